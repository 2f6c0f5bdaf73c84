//! TLS to the database: with `sslmode=require` in the URL, or a CA file
//! (`database_cacert`), the store speaks TLS on every connection and
//! verifies the server's certificate and name; it never talks to a server
//! whose certificate it cannot verify.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test helpers may panic

use std::path::PathBuf;
use std::time::Duration;

use gatehouse_core::app::NewApplication;
use gatehouse_core::audit::{EventResult, NewEvent};
use gatehouse_core::error::Kind;
use gatehouse_store::Store;
use gatehouse_store_postgres::{Options, PgStore};
use gatehouse_test_postgres::Cluster;

/// A CA, and a server certificate it issued for `names`, as PEM.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki(names: &[&str]) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Gatehouse database test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    // An IP address among the names becomes an IP subject alternative name.
    let cert = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A cluster serving TLS with `pki`'s server certificate.
fn tls_cluster(pki: &Pki) -> Cluster {
    let pg = Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    pg.enable_tls(&pki.cert_pem, &pki.key_pem).unwrap();
    pg
}

fn ca_file(dir: &tempfile::TempDir, pem: &str) -> PathBuf {
    let path = dir.path().join("database-ca.pem");
    std::fs::write(&path, pem).unwrap();
    path
}

fn options(ca_file: Option<PathBuf>) -> Options {
    Options {
        ca_file,
        connect_timeout: Duration::from_secs(2),
        ..Options::default()
    }
}

fn create(store: &PgStore, key: &str) {
    let new: NewApplication = serde_json::from_value(serde_json::json!({ "key": key })).unwrap();
    let app = new.into_application("2026-12-02T00:00:00Z").unwrap();
    let event = NewEvent {
        actor: "tester".into(),
        action: "application.create".into(),
        subject: format!("application:{key}"),
        application: Some(key.into()),
        version: None,
        result: EventResult::Success,
        details: serde_json::json!({}),
    };
    store.create_application(&app, event).unwrap();
}

/// The store's sessions on `database` (not psql's own): (over TLS, in plain text).
fn sessions(pg: &Cluster, database: &str) -> (u32, u32) {
    let out = pg
        .psql(
            database,
            &format!(
                "SELECT count(*) FILTER (WHERE s.ssl) || ' ' || count(*) FILTER (WHERE NOT s.ssl)
                 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE a.datname = '{database}' AND a.application_name <> 'psql'"
            ),
        )
        .unwrap();
    let (tls, plain) = out.split_once(' ').unwrap();
    (tls.parse().unwrap(), plain.parse().unwrap())
}

#[test]
fn the_store_speaks_verified_tls_to_a_database_whose_ca_it_is_given() {
    let pki = pki(&["127.0.0.1"]);
    let pg = tls_cluster(&pki);
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_file(&dir, &pki.ca_pem);

    // sslmode=require in the URL, with the CA file.
    let url = pg.create_database().unwrap();
    let database = url.rsplit('/').next().unwrap().to_string();
    let store = PgStore::open(&format!("{url}?sslmode=require"), &options(Some(ca.clone()))).unwrap();
    create(&store, "payments");
    assert!(store.application("payments").unwrap().is_some());
    let (tls, plain) = sessions(&pg, &database);
    assert!(tls >= 2, "the writer and a reader speak TLS ({tls} sessions)");
    assert_eq!(plain, 0, "no session of the store is in plain text");
    drop(store);

    // The CA file alone asks for TLS too; libpq's verify-full is taken as well.
    for url in [
        pg.create_database().unwrap(),
        format!("{}?sslmode=verify-full", pg.create_database().unwrap()),
    ] {
        let database = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
        let store = PgStore::open(&url, &options(Some(ca.clone()))).unwrap();
        create(&store, "payments");
        let (tls, plain) = sessions(&pg, &database);
        assert!(tls >= 2 && plain == 0, "{url}: {tls} over TLS, {plain} in plain text");
    }
}

#[test]
fn the_store_refuses_a_database_certificate_it_cannot_verify() {
    let pki = pki(&["127.0.0.1"]);
    let pg = tls_cluster(&pki);
    let dir = tempfile::tempdir().unwrap();
    let url = pg.create_database().unwrap();

    // Another CA than the one that issued the server's certificate.
    let other = ca_file(&dir, &self::pki(&["127.0.0.1"]).ca_pem);
    let e = PgStore::open(&url, &options(Some(other))).err().unwrap();
    assert_eq!(e.kind(), Kind::Unavailable, "{e}");
    assert!(e.to_string().contains("invalid peer certificate"), "{e}");

    // The system's roots (no CA file) do not vouch for a private CA either.
    let e = PgStore::open(&format!("{url}?sslmode=require"), &options(None))
        .err()
        .unwrap();
    assert!(e.to_string().contains("invalid peer certificate"), "{e}");

    // The right CA, but a certificate for another host name.
    let elsewhere = self::pki(&["db.internal.example"]);
    let pg2 = tls_cluster(&elsewhere);
    let ca = ca_file(&dir, &elsewhere.ca_pem);
    let e = PgStore::open(&pg2.create_database().unwrap(), &options(Some(ca.clone())))
        .err()
        .unwrap();
    assert!(e.to_string().contains("invalid peer certificate"), "{e}");

    // A CA file with TLS turned off is a contradiction, refused by name.
    let e = PgStore::open(&format!("{url}?sslmode=disable"), &options(Some(ca)))
        .err()
        .unwrap();
    assert_eq!(e.kind(), Kind::Invalid, "{e}");
    assert!(
        e.to_string().contains("database_url") && e.to_string().contains("sslmode=disable"),
        "{e}"
    );
}

#[test]
fn without_tls_asked_for_the_store_connects_in_plain_text_as_before() {
    let pki = pki(&["127.0.0.1"]);
    let pg = tls_cluster(&pki);
    let url = pg.create_database().unwrap();
    let database = url.rsplit('/').next().unwrap().to_string();
    let store = PgStore::open(&url, &options(None)).unwrap();
    create(&store, "payments");
    let (tls, plain) = sessions(&pg, &database);
    assert_eq!((tls, plain > 0), (0, true), "{tls} over TLS, {plain} in plain text");
}
