//! temporary
#[test]
fn bench100k() {
    for t in [1, 2] {
        let r = datasets::dedup::bench_dedup(100_000, datasets::dedup::DedupConfig::default(), t)
            .unwrap();
        eprintln!("{r:?}");
    }
}
