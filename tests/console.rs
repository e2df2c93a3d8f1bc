//! The web console in a real headless Chromium against a real `surveyor
//! serve`: what an administrator does in it (sign in, runtimes and their
//! keys, nodes, sources from their JSON Schema forms, scans with their
//! trigger preview, runs and their results) and what the API then holds.

#[path = "support/browser.rs"]
mod browser;
#[path = "support/nodes.rs"]
mod nodes;
#[path = "support/serve.rs"]
mod serve;
#[path = "support/mod.rs"]
mod support;

use browser::Browser;
use nodes::NodeAgent;
use serde_json::json;
use serve::Service;
use std::time::Duration;
use support::wait_until;
use surveyor_lakegen::{LakeSpec, write_lake};

#[test]
fn an_administrator_signs_in_and_manages_runtimes_keys_and_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("data"));
    let browser = Browser::start();

    // The console is the page at `/`, locked down by its policy.
    let page = reqwest::blocking::get(&svc.url).unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");

    // A wrong token is refused with the API's own message.
    browser.goto(&svc.url);
    browser.fill("#token", "ADMIN@wrong");
    browser.click("#login button");
    let (_, refused) = svc.call("GET", "/v1/integration-runtimes", Some("ADMIN@wrong"), None);
    browser.wait_text("[role=alert]", refused["error"]["message"].as_str().unwrap());
    browser.fill("#token", &svc.token);
    browser.click("#login button");
    browser.wait_text("main", "No integration runtime yet");

    // Create a runtime from the list page.
    browser.fill("#create-ir input[name=name]", "lake-ir");
    browser.click("#create-ir button");
    browser.wait_text("h1", "Integration runtime lake-ir");
    let (_, keys) = svc.admin("GET", "/v1/integration-runtimes/lake-ir/keys", None);
    let key1 = keys["key1"].as_str().unwrap().to_string();
    let key2 = keys["key2"].as_str().unwrap().to_string();
    browser.wait_text("code[data-slot='1']", &key1[..12]);
    assert!(!browser.page_text().contains(&key1), "keys are masked on the page");
    browser.click("button[data-copy='2']");
    browser.wait_text("main", "Key 2 copied.");

    // The description is edited in place.
    browser.fill("#description", "the lake's runtime");
    browser.click("#description + button");
    browser.wait_text("main", "Description saved.");
    let (_, ir) = svc.admin("GET", "/v1/integration-runtimes/lake-ir", None);
    assert_eq!(ir["description"], "the lake's runtime");

    // Regenerating key 1 asks first, then only key 1 changes.
    browser.click("button[data-regenerate='1']");
    browser.accept_dialog("Regenerate key 1?");
    let new_key1 = wait_until("key 1 to change", Duration::from_secs(30), || {
        let (_, keys) = svc.admin("GET", "/v1/integration-runtimes/lake-ir/keys", None);
        let k = keys["key1"].as_str().unwrap().to_string();
        (k != key1).then_some(k)
    });
    browser.wait_text("code[data-slot='1']", &new_key1[..12]);
    let (_, keys) = svc.admin("GET", "/v1/integration-runtimes/lake-ir/keys", None);
    assert_eq!(keys["key2"], key2.as_str());

    // A node registered with key 2 shows on the Nodes tab, online, with its address and version.
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let _node = NodeAgent::start(&svc, &tmp.path().join("node-a"), "node-a", &key2, plugins.to_str().unwrap());
    browser.click(".tabs a[href$='/nodes']");
    let row = browser.wait_text("tbody", "node-a");
    // `limited` when this loaded test machine's CPU is above 90%.
    assert!(row.contains("online") || row.contains("limited"), "{row}");
    assert!(row.contains("127.0.0.1") && row.contains(env!("CARGO_PKG_VERSION")), "{row}");

    // Removing it asks first; then the API has no node.
    browser.click("button[data-remove='node-a']");
    browser.accept_dialog("Remove node node-a?");
    browser.wait_text("main", "No node registered");
    let (_, nodes) = svc.admin("GET", "/v1/nodes", None);
    assert_eq!(nodes.as_array().unwrap().len(), 0, "{nodes}");

    // The Version tab: this build, its expiry.
    browser.click(".tabs a[href$='/version']");
    let version = browser.wait_text("#version", env!("CARGO_PKG_VERSION"));
    let (_, v) = svc.call("GET", "/v1/version", None, None);
    assert!(version.contains(v["expires_on"].as_str().unwrap()), "{version}");
    browser.wait_text("#available-version", "none newer");
    browser.wait_text("main", "No rollout yet.");

    // The list page shows the runtime with its description.
    browser.click("#nav a[data-section=irs]");
    browser.wait_text("tbody", "the lake's runtime");
}

#[test]
fn sources_scans_and_runs_are_set_up_and_watched_in_the_console() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    write_lake(&lake, &LakeSpec { files: 24, files_per_table: 12, loose_percent: 0, ..LakeSpec::default() }).unwrap();
    let svc = Service::start(&tmp.path().join("data"));
    let browser = Browser::start();
    browser.goto(&svc.url);
    browser.fill("#token", &svc.token);
    browser.click("#login button");
    browser.wait_text("h1", "Integration runtimes");

    // A source from the form generated from its connection's JSON Schema.
    browser.goto(&format!("{}/#/sources/new", svc.url));
    browser.click("#source-type option[value='local-folder']");
    browser.fill("#source-name", "lake");
    browser.fill("input[name='connection.path']", lake.to_str().unwrap());
    browser.click("#source-form button[type=submit]");
    browser.wait_text("#flash", "Saved.");
    let (status, source) = svc.admin("GET", "/v1/sources/lake", None);
    assert_eq!((status, source["connection"]["path"].as_str()), (200, lake.to_str()));
    browser.click("#test-connection");
    browser.wait_text("#test-result", "Connection succeeded.");
    // Its contents, as a tree.
    browser.wait_text("#browse", "warehouse");

    // A source that cannot be reached: the error as the API gives it, shown as text.
    let missing = tmp.path().join("<b>gone</b>");
    let (status, _) = svc.admin(
        "POST",
        "/v1/sources",
        Some(json!({"name": "gone", "type": "local-folder", "connection": {"path": missing}})),
    );
    assert_eq!(status, 201);
    let (_, verdict) = svc.admin("POST", "/v1/sources/gone/test-connection", None);
    browser.goto(&format!("{}/#/sources/gone", svc.url));
    browser.click("#test-connection");
    let shown = browser.wait_text("#test-result", verdict["error"]["message"].as_str().unwrap());
    assert!(shown.starts_with(verdict["error"]["kind"].as_str().unwrap()), "{shown}");
    assert!(shown.contains("<b>gone</b>"), "{shown}");
    assert_eq!(browser.count("#test-result b"), 0, "an error message is text, never markup");

    // A scan with a cron trigger: the editor shows the next five fire times, as the API computes them.
    browser.goto(&format!("{}/#/scans/new?source=lake", svc.url));
    browser.fill("#scan-name", "nightly");
    browser.click("#trigger-kind option[value='cron']");
    browser.fill("#trigger-expression", "61 2 * * *");
    browser.wait_text("#trigger-preview [role=alert]", "61");
    browser.fill("#trigger-expression", "30 2 * * *");
    browser.fill("#trigger-zone", "Europe/Paris");
    let (_, preview) = svc.admin(
        "POST",
        "/v1/triggers/preview",
        Some(json!({"kind": "cron", "expression": "30 2 * * *", "time_zone": "Europe/Paris"})),
    );
    let first = preview["next"][0].as_str().unwrap();
    browser.wait_text("#trigger-preview", first);
    assert_eq!(browser.count("#trigger-preview li"), 5);
    // The scope is picked in the source's tree.
    browser.click("#browse [data-path='warehouse']");
    assert_eq!(browser.value("#scan-scope"), "warehouse");
    browser.click("#scan-form button[type=submit]");
    browser.wait_text("h1", "Scan nightly");
    let (_, scan) = svc.admin("GET", "/v1/scans/nightly", None);
    assert_eq!(scan["trigger"]["expression"], "30 2 * * *");
    assert_eq!(scan["trigger"]["time_zone"], "Europe/Paris");
    assert_eq!(scan["scope"], json!(["warehouse"]));

    // Run it now and watch it finish (the page polls).
    browser.click("#run-now");
    browser.wait_text("#run-state", "succeeded");
    let run_id = browser.script("return location.hash.split('/')[2]").as_str().unwrap().to_string();
    let (_, run) = svc.admin("GET", &format!("/v1/runs/{run_id}"), None);
    assert_eq!(run["state"], "succeeded", "{run}");
    let counts = browser.wait_text("#run-counts", "files");
    assert!(counts.contains(&format!("files {}", run["counts"]["files"])), "{counts}");
    browser.wait_text("#units-summary", &format!("{} done", run["units"]["done"]));

    // Its results: the asset tree down to a resource set, with its schema and variants.
    browser.click("#results");
    let (_, sets) = svc.admin("GET", &format!("/v1/runs/{run_id}/assets?type=fs_resource_set&limit=1"), None);
    let set = &sets["assets"][0];
    let (_, all) = svc.admin("GET", &format!("/v1/runs/{run_id}/assets?limit=1000"), None);
    let parent_of = |qn: &str| {
        all["assets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["qualified_name"] == qn)
            .and_then(|a| a["detail"]["parent"].as_str().map(String::from))
    };
    let mut chain = vec![set["qualified_name"].as_str().unwrap().to_string()];
    while let Some(parent) = parent_of(chain.last().unwrap()) {
        chain.push(parent);
    }
    for qn in chain.iter().rev() {
        browser.click(&format!("#asset-tree [data-qn=\"{qn}\"]"));
    }
    let detail = browser.wait_text("#asset-detail", "Resource set");
    let columns = set["detail"]["columns"].as_array().unwrap();
    assert!(detail.contains(&format!("Schema ({} columns)", columns.len())), "{detail}");
    assert!(detail.contains(columns[0]["path"].as_str().unwrap()), "{detail}");
    assert!(detail.contains("the set's schema"), "{detail}");
}
