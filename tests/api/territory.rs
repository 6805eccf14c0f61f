//! Browsing the territory: Relay connections, search, lookups, node(id:), territories.
use serde_json::json;

use crate::helpers::{code, ok, TestApp};

const AMP: &str = "200054807";

#[tokio::test]
async fn the_amp_query_lists_92_communes_with_population_and_mayor() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let q = "query($s:String!){intercommunality(siren:$s){name legalForm population{value year}
        communes(first:100){totalCount pageInfo{hasNextPage}
          edges{node{inseeCode name population{value year source} currentMayor{role startDate person{fullName}}}}}}}";
    let r = app.gql(Some(&t), q, json!({"s": AMP})).await;
    let epci = &ok(&r)["intercommunality"];
    assert_eq!(epci["name"], "Métropole d'Aix-Marseille-Provence");
    assert_eq!(epci["legalForm"], "METRO");
    assert_eq!(epci["population"]["value"], 1_922_626);
    let communes = &epci["communes"];
    assert_eq!(communes["totalCount"], 92);
    assert_eq!(communes["pageInfo"]["hasNextPage"], false);
    let edges = communes["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 92);
    assert!(edges.iter().all(|e| e["node"]["currentMayor"]["role"] == "MAYOR"));
    let marseille = edges.iter().find(|e| e["node"]["inseeCode"] == "13055").unwrap();
    assert_eq!(marseille["node"]["population"]["value"], 886_040);
    assert_eq!(marseille["node"]["population"]["year"], 2023);
    // Names are sorted.
    let names: Vec<&str> = edges.iter().map(|e| e["node"]["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[tokio::test]
async fn connections_page_forward_and_backward() {
    let app = TestApp::demo().await;
    let t = app.login_as("maire.cassis@demo.entente.fr").await;
    let q = "query($f:Int,$a:String,$l:Int,$b:String){communes(first:$f,after:$a,last:$l,before:$b){totalCount
        pageInfo{hasNextPage hasPreviousPage startCursor endCursor} edges{cursor node{inseeCode}}}}";
    let p1 = app.gql(Some(&t), q, json!({"f": 40})).await;
    let c1 = &ok(&p1)["communes"];
    assert_eq!(c1["totalCount"], 92);
    assert_eq!(c1["edges"].as_array().unwrap().len(), 40);
    assert_eq!(c1["pageInfo"]["hasNextPage"], true);
    assert_eq!(c1["pageInfo"]["hasPreviousPage"], false);
    let end = c1["pageInfo"]["endCursor"].as_str().unwrap();
    let p2 = app.gql(Some(&t), q, json!({"f": 40, "a": end})).await;
    let p3 = app.gql(Some(&t), q, json!({"f": 40, "a": ok(&p2)["communes"]["pageInfo"]["endCursor"]})).await;
    let c3 = &ok(&p3)["communes"];
    assert_eq!(c3["edges"].as_array().unwrap().len(), 12);
    assert_eq!(c3["pageInfo"]["hasNextPage"], false);
    let mut seen: Vec<String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|p| {
            p["data"]["communes"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["inseeCode"].as_str().unwrap().to_string())
        })
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 92);
    // Backward: the 5 before the second page's start.
    let start2 = ok(&p2)["communes"]["pageInfo"]["startCursor"].clone();
    let back = app.gql(Some(&t), q, json!({"l": 5, "b": start2})).await;
    let last_of_p1: Vec<_> =
        c1["edges"].as_array().unwrap()[35..].iter().map(|e| e["node"]["inseeCode"].clone()).collect();
    let got: Vec<_> =
        ok(&back)["communes"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["inseeCode"].clone()).collect();
    assert_eq!(got, last_of_p1);
    // A bad cursor and an oversized page are refused.
    assert_eq!(code(&app.gql(Some(&t), q, json!({"a": "nope"})).await), "VALIDATION");
    let big = app.gql(Some(&t), q, json!({"f": 501})).await;
    assert_eq!(code(&big), "VALIDATION");
    assert_eq!(big["errors"][0]["extensions"]["field"], "first");
}

#[tokio::test]
async fn search_by_name_or_code_and_lookups() {
    let app = TestApp::demo().await;
    let t = app.login_as("maire.cassis@demo.entente.fr").await;
    let q = "query($s:String){communes(search:$s,first:10){totalCount edges{node{name inseeCode}}}}";
    let r = app.gql(Some(&t), q, json!({"s": "MARTIG"})).await;
    let names: Vec<_> = ok(&r)["communes"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Châteauneuf-les-Martigues", "Martigues"]);
    let r = app.gql(Some(&t), q, json!({"s": "1305"})).await;
    let names: Vec<_> = ok(&r)["communes"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["inseeCode"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"13055".to_string()), "{names:?}");
    let r = app
        .gql(
            Some(&t),
            "{commune(inseeCode:\"13055\"){name siren departement council{role person{fullName}}}}",
            json!({}),
        )
        .await;
    let m = &ok(&r)["commune"];
    assert_eq!(m["name"], "Marseille");
    assert_eq!(m["siren"], "211300553");
    assert_eq!(m["departement"], "13");
    let roles: Vec<_> = m["council"].as_array().unwrap().iter().map(|x| x["role"].as_str().unwrap()).collect();
    assert!(roles.contains(&"MAYOR") && roles.contains(&"DGS"), "{roles:?}");
    let r = app.gql(Some(&t), "{commune(siren:\"211300553\"){inseeCode}}", json!({})).await;
    assert_eq!(ok(&r)["commune"]["inseeCode"], "13055");
    let r = app.gql(Some(&t), "{commune(siren:\"211300553\", inseeCode:\"13055\"){inseeCode}}", json!({})).await;
    assert_eq!(code(&r), "VALIDATION");
    // Unknown but valid codes give null; malformed ones a VALIDATION error with the field.
    let r = app.gql(Some(&t), "{commune(inseeCode:\"2A004\"){name}}", json!({})).await;
    assert!(ok(&r)["commune"].is_null());
    let r = app.gql(Some(&t), "{commune(inseeCode:\"2C004\"){name}}", json!({})).await;
    assert_eq!(code(&r), "VALIDATION");
    assert_eq!(r["errors"][0]["extensions"]["field"], "inseeCode");
    let r = app.gql(Some(&t), "{intercommunality(siren:\"200054808\"){name}}", json!({})).await;
    assert_eq!(code(&r), "VALIDATION");
    assert!(r["errors"][0]["message"].as_str().unwrap().contains("Luhn"));
    let r = app
        .gql(Some(&t), "{intercommunalities(search:\"aix-marseille\"){totalCount edges{node{siren}}}}", json!({}))
        .await;
    assert_eq!(ok(&r)["intercommunalities"]["edges"][0]["node"]["siren"], AMP);
}

#[tokio::test]
async fn node_resolves_every_kind_of_global_id() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let r = app
        .gql(
            Some(&t),
            "{commune(inseeCode:\"13055\"){id currentMayor{id person{id}} memberships{intercommunality{id}}}}",
            json!({}),
        )
        .await;
    let c = &ok(&r)["commune"];
    for (id, typename) in [
        (&c["id"], "Commune"),
        (&c["currentMayor"]["id"], "Mandate"),
        (&c["currentMayor"]["person"]["id"], "Person"),
        (&c["memberships"][0]["intercommunality"]["id"], "Intercommunality"),
    ] {
        let n = app.gql(Some(&t), "query($id:ID!){node(id:$id){__typename id}}", json!({"id": id})).await;
        assert_eq!(ok(&n)["node"]["__typename"], typename);
        assert_eq!(&ok(&n)["node"]["id"], id);
    }
    let bad = app.gql(Some(&t), "{node(id:\"garbage\"){id}}", json!({})).await;
    assert_eq!(code(&bad), "VALIDATION");
}

#[tokio::test]
async fn territories_are_created_edited_and_deleted_with_versions() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let amp = app.epci_id(&t, AMP).await;
    let martigues = app.commune_id(&t, "13056").await;
    let port_de_bouc = app.commune_id(&t, "13077").await;
    let create = "mutation($i:CreateTerritoryInput!){createTerritory(input:$i){id name version communes{name}}}";
    let r = app.gql(Some(&t), create, json!({"i": {"intercommunalityId": amp, "name": "Pays de Martigues", "communeIds": [martigues, port_de_bouc]}})).await;
    let terr = ok(&r)["createTerritory"].clone();
    assert_eq!(terr["communes"].as_array().unwrap().len(), 2);
    let dup = app.gql(Some(&t), create, json!({"i": {"intercommunalityId": amp, "name": "Pays de Martigues"}})).await;
    assert_eq!(code(&dup), "CONFLICT");

    let update = "mutation($i:UpdateTerritoryInput!){updateTerritory(input:$i){name version communes{name}}}";
    let r = app.gql(Some(&t), update, json!({"i": {"id": terr["id"], "expectedVersion": 1, "name": "Pays de Martigues (CT6)", "communeIds": [martigues]}})).await;
    assert_eq!(ok(&r)["updateTerritory"]["version"], 2);
    // An edit based on the old version is detected, not applied.
    let stale = app
        .gql(
            Some(&t),
            update,
            json!({"i": {"id": terr["id"], "expectedVersion": 1, "name": "Écrasé", "communeIds": []}}),
        )
        .await;
    assert_eq!(code(&stale), "CONFLICT");
    let r = app
        .gql(
            Some(&t),
            "query($s:String!){intercommunality(siren:$s){territories{name communes{name}}}}",
            json!({"s": AMP}),
        )
        .await;
    assert_eq!(ok(&r)["intercommunality"]["territories"][0]["name"], "Pays de Martigues (CT6)");
    assert_eq!(ok(&r)["intercommunality"]["territories"][0]["communes"].as_array().unwrap().len(), 1);

    let del = "mutation($id:ID!,$v:Int!){deleteTerritory(id:$id,expectedVersion:$v)}";
    assert_eq!(code(&app.gql(Some(&t), del, json!({"id": terr["id"], "v": 1})).await), "CONFLICT");
    ok(&app.gql(Some(&t), del, json!({"id": terr["id"], "v": 2})).await);
    let n = app.gql(Some(&t), "query($id:ID!){node(id:$id){id}}", json!({"id": terr["id"]})).await;
    assert!(ok(&n)["node"].is_null());
}

#[tokio::test]
async fn searches_ignore_accents_case_and_punctuation_on_every_database() {
    let app = TestApp::demo().await;
    let t = app.login_as("secretariat@demo.entente.fr").await;
    let q = "query($s:String){communes(search:$s){edges{node{name}}}}";
    for s in ["etang", "BERRE L ETANG", "berre-l'étang", "Berre l’Étang"] {
        let r = app.gql(Some(&t), q, json!({"s": s})).await;
        let names: Vec<_> = ok(&r)["communes"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["Berre-l'Étang"], "search {s:?}");
    }
    let r = app
        .gql(Some(&t), "{intercommunalities(search:\"aix marseille provence\"){edges{node{siren}}}}", json!({}))
        .await;
    assert_eq!(ok(&r)["intercommunalities"]["edges"][0]["node"]["siren"], AMP);
    let r = app.gql(Some(&t), "{persons(search:\"helene presidente\"){edges{node{fullName}}}}", json!({})).await;
    assert_eq!(ok(&r)["persons"]["edges"][0]["node"]["fullName"], "Hélène Présidente");
    // Renaming a person updates what searches find.
    let id = ok(&app.gql(Some(&t), "{persons(search:\"helene\"){edges{node{id version}}}}", json!({})).await)
        ["persons"]["edges"][0]["node"]
        .clone();
    ok(&app
        .gql(
            Some(&t),
            "mutation($i:UpdatePersonInput!){updatePerson(input:$i){id}}",
            json!({"i": {"id": id["id"], "expectedVersion": id["version"], "familyName": "Élue"}}),
        )
        .await);
    let r = app.gql(Some(&t), "{persons(search:\"helene elue\"){totalCount}}", json!({})).await;
    assert_eq!(ok(&r)["persons"]["totalCount"], 1);
}
