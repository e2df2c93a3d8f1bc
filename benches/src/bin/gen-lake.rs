//! `gen-lake <DIR> [FILES] [SEED]`: writes a Parquet lake for benchmarks and demos,
//! and `<DIR>.expected.json` listing what was written.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| {
        eprintln!("usage: gen-lake <DIR> [FILES=10000] [SEED=42]");
        std::process::exit(2)
    });
    let files = args.next().map(|s| s.parse().expect("FILES is a number")).unwrap_or(10_000);
    let seed = args.next().map(|s| s.parse().expect("SEED is a number")).unwrap_or(42);
    let spec = surveyor_lakegen::LakeSpec { files, seed, ..Default::default() };
    let started = std::time::Instant::now();
    let written = surveyor_lakegen::write_lake(std::path::Path::new(&dir), &spec)?;
    let expected = format!("{}.expected.json", dir.trim_end_matches('/'));
    std::fs::write(&expected, serde_json::to_vec(&written)?)?;
    eprintln!("wrote {} files to {dir} in {:.1}s ({expected})", written.len(), started.elapsed().as_secs_f64());
    Ok(())
}
