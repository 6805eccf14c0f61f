//! The committed schema.graphql is the one the code builds.
#[test]
fn schema_file_is_fresh() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let built = entente::graphql::sdl();
    assert!(
        committed == built,
        "schema.graphql is stale: regenerate it with `cargo run -- schema > schema.graphql` and commit it"
    );
}

#[test]
fn the_schema_speaks_english_and_glosses_in_french() {
    let sdl = entente::graphql::sdl();
    for term in
        ["type Commune", "type Intercommunality", "type Mandate", "maire", "population municipale", "interface Node"]
    {
        assert!(sdl.contains(term), "schema lacks {term:?}");
    }
}
