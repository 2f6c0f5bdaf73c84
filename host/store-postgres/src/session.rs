//! A connection and the statements prepared on it: what the writer and
//! every pooled connection are. A statement sent as text costs a parse
//! round trip every time; here each is prepared once and lives as long as
//! the connection.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Client, Row, Statement};

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Prepared statements kept per connection; past it the cache starts over
/// (the statements are all written in this crate, so it is never reached in
/// practice: this bounds it all the same).
const MAX_STATEMENTS: usize = 256;

/// A connection and its prepared statements (the writer's, and each of the
/// pool's). Its query methods are the driver's, with every statement
/// prepared once per connection.
pub struct Session {
    pub(crate) client: Client,
    statements: HashMap<String, Statement>,
}

impl Session {
    pub(crate) fn new(client: Client) -> Session {
        Session {
            client,
            statements: HashMap::new(),
        }
    }

    fn statement(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub fn execute(&mut self, sql: &str, params: Params<'_>) -> std::result::Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }

    pub fn query(&mut self, sql: &str, params: Params<'_>) -> std::result::Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }

    pub fn query_one(&mut self, sql: &str, params: Params<'_>) -> std::result::Result<Row, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params)
    }

    pub fn query_opt(&mut self, sql: &str, params: Params<'_>) -> std::result::Result<Option<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params)
    }

    /// Statements sent as text, unprepared (no parameters).
    pub fn batch_execute(&mut self, sql: &str) -> std::result::Result<(), postgres::Error> {
        self.client.batch_execute(sql)
    }
}
