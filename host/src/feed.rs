//! Reading an advisory feed from disk as osv.dev publishes it: one OSV
//! file, a directory of them, or a zip dump. Every read is bounded (document
//! size, import size, zip expansion ratio, file count, depth), so a zip bomb
//! or a directory of symlinks back to `..` fails with the bound it hit.
//! Parsing and matching are the core's (`vuln`); this is the I/O around them.

use std::path::Path;

use crate::error::{Error, Result};
use crate::vuln::{Advisory, parse_advisory};

/// Advisories loaded from files, with what could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub advisories: Vec<Advisory>,
    /// (file, reason) for each document that was not an advisory.
    pub rejected: Vec<(String, String)>,
}

/// The largest advisory document read.
pub const MAX_DOCUMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Decompressed (or read) bytes of one import, all documents together.
pub const MAX_IMPORT_BYTES: u64 = 1024 * 1024 * 1024;
/// Decompressed bytes per compressed byte of a zip entry larger than 1 MiB.
pub const MAX_ZIP_RATIO: u64 = 100;
/// Files of a directory import, and how deep it is walked.
pub const MAX_FILES: usize = 2_000_000;
pub const MAX_DEPTH: usize = 32;

/// The raw documents at `path`: one file, every `.json` file under a
/// directory (symlinked directories are not followed), or every `.json`
/// entry of a zip dump (as osv.dev publishes), within the bounds above.
pub fn read_documents(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::invalid(
            "advisories",
            path.display().to_string(),
            format!("a readable file, directory or zip ({e})"),
        )
    };
    let mut total: u64 = 0;
    if path.extension().is_some_and(|e| e == "zip") {
        let file = std::fs::File::open(path).map_err(|e| unreadable(&e))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| unreadable(&e))?;
        let mut out = Vec::new();
        for i in 0..archive.len() {
            let entry = archive.by_index(i).map_err(|e| unreadable(&e))?;
            let entry_name = entry.name().map(|n| n.to_string()).unwrap_or_default();
            if !entry.is_file() || !entry_name.ends_with(".json") {
                continue;
            }
            let name = format!("{}!{entry_name}", path.display());
            let compressed = entry.compressed_size();
            let bytes = read_bounded(entry, &name, &mut total).map_err(|e| unreadable(&e))??;
            let len = bytes.len() as u64;
            if len > 1024 * 1024 && len > compressed.saturating_mul(MAX_ZIP_RATIO) {
                return Err(Error::invalid(
                    "advisories",
                    &name,
                    format!("a zip entry expanding at most {MAX_ZIP_RATIO}x ({compressed} bytes expand to {len})"),
                ));
            }
            out.push((name, bytes));
        }
        return Ok(out);
    }
    let mut files = Vec::new();
    if path.is_dir() {
        collect(path, 0, &mut files).map_err(|e| unreadable(&e))?;
    } else {
        files.push(path.to_path_buf());
    }
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let name = f.display().to_string();
        let file = std::fs::File::open(&f).map_err(|e| unreadable(&e))?;
        let bytes = read_bounded(file, &name, &mut total).map_err(|e| unreadable(&e))??;
        out.push((name, bytes));
    }
    Ok(out)
}

/// Read one document of at most [`MAX_DOCUMENT_BYTES`], counting it against
/// the import's total; the outer error is I/O, the inner a bound.
fn read_bounded(reader: impl std::io::Read, name: &str, total: &mut u64) -> std::io::Result<Result<Vec<u8>>> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reader.take(MAX_DOCUMENT_BYTES + 1), &mut bytes)?;
    let len = bytes.len() as u64;
    if len > MAX_DOCUMENT_BYTES {
        return Ok(Err(Error::invalid(
            "advisories",
            name,
            format!("an advisory document of at most {MAX_DOCUMENT_BYTES} bytes"),
        )));
    }
    *total += len;
    if *total > MAX_IMPORT_BYTES {
        return Ok(Err(Error::invalid(
            "advisories",
            name,
            format!("an import of at most {MAX_IMPORT_BYTES} bytes in all; split it"),
        )));
    }
    Ok(Ok(bytes))
}

/// Parse every document at `path`. A bad advisory is reported and counted;
/// it does not stop the rest.
pub fn load_path(path: &Path) -> Result<Loaded> {
    let mut loaded = Loaded::default();
    for (name, bytes) in read_documents(path)? {
        match parse_advisory(&name, &bytes) {
            Ok(a) => loaded.advisories.push(a),
            Err(e) => loaded.rejected.push((name, e.to_string())),
        }
    }
    Ok(loaded)
}

/// Every `.json` file under `dir`: symlinked directories are not entered
/// (a link back to `..` cannot loop), depth and count are bounded.
fn collect(dir: &Path, depth: usize, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(std::io::Error::other(format!(
            "{} is nested more than {MAX_DEPTH} directories deep",
            dir.display()
        )));
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(&p, depth + 1, out)?;
        } else if p.extension().is_some_and(|e| e == "json") && (kind.is_file() || p.is_file()) {
            if out.len() >= MAX_FILES {
                return Err(std::io::Error::other(format!("more than {MAX_FILES} files")));
            }
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_with(dir: &Path, entries: &[(&str, Vec<u8>)]) -> std::path::PathBuf {
        let path = dir.join("dump.zip");
        let mut w = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            w.start_file(*name, opts).unwrap();
            std::io::Write::write_all(&mut w, bytes).unwrap();
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn zip_bombs_are_refused_by_size_and_by_ratio() {
        let dir = tempfile::tempdir().unwrap();
        let ok = br#"{"id": "GHSA-x", "modified": "2024-01-01T00:00:00Z"}"#.to_vec();
        let path = zip_with(dir.path(), &[("a.json", ok.clone())]);
        assert_eq!(read_documents(&path).unwrap().len(), 1);
        // One entry expanding past the per-document bound: refused while
        // reading, never held whole.
        let path = zip_with(
            dir.path(),
            &[("a.json", ok.clone()), ("bomb.json", vec![b' '; 64 << 20])],
        );
        let e = read_documents(&path).unwrap_err().to_string();
        assert!(e.contains("bomb.json") && e.contains("at most 8388608 bytes"), "{e}");
        // Under that bound but expanding a thousandfold: refused by ratio.
        let path = zip_with(dir.path(), &[("ratio.json", vec![b' '; 4 << 20])]);
        let e = read_documents(&path).unwrap_err().to_string();
        assert!(e.contains("ratio.json") && e.contains("expanding at most 100x"), "{e}");
    }

    #[test]
    fn directory_walks_do_not_follow_symlink_loops() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("osv");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("a.json"), "{}").unwrap();
        std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
        std::os::unix::fs::symlink(&sub, sub.join("self")).unwrap();
        let docs = read_documents(&sub).unwrap();
        assert_eq!(docs.len(), 1, "{:?}", docs.iter().map(|d| &d.0).collect::<Vec<_>>());
    }
}
