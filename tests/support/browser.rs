//! A real headless Chromium, driven over the W3C WebDriver protocol by
//! `chromedriver` (Debian packages `chromium` and `chromium-driver`, which
//! `.ci/run` installs). Both listen on 127.0.0.1 only; chromedriver picks its
//! own port (`--port=0`) and says which, so parallel tests cannot collide.
//! Include it next to `support`: `#[path = "support/browser.rs"] mod browser;`
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a page may take to show what a test waits for, on a cold and
/// loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        let mut driver = Command::new("chromedriver")
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is not installed: `apt-get install chromium chromium-driver` (.ci/run does)");
        let mut port = None;
        for line in BufReader::new(driver.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("ChromeDriver was started successfully on port ") {
                port = Some(rest.trim_end_matches('.').to_string());
                break;
            }
        }
        let port = port.expect("chromedriver did not say its port");
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1400,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "unhandledPromptBehavior": "ignore",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let reply = http.post(format!("{base}/session")).body(caps.to_string()).send().unwrap().text().unwrap();
        let reply: Value = serde_json::from_str(&reply).unwrap();
        let session = reply["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromium did not start: {reply}"))
            .to_string();
        Browser { driver, base, session, http, _profile: profile }
    }

    /// One WebDriver command; `Err` carries the driver's error (e.g. `no such element`).
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).body(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let reply = req.send().map_err(|e| e.to_string())?.text().map_err(|e| e.to_string())?;
        let reply: Value = serde_json::from_str(&reply).map_err(|e| format!("{e}: {reply}"))?;
        match reply["value"].get("error") {
            Some(error) => Err(format!("{error}: {}", reply["value"]["message"])),
            None => Ok(reply["value"].clone()),
        }
    }

    /// Retries `f` until it gives a value or [`PATIENCE`] runs out; pages
    /// re-render while they poll, so an element may go stale between calls.
    fn eventually<T>(&self, what: &str, mut f: impl FnMut() -> Result<Option<T>, String>) -> T {
        let deadline = Instant::now() + crate::support::scaled(PATIENCE);
        let mut last = String::new();
        loop {
            match f() {
                Ok(Some(v)) => return v,
                Ok(None) => {}
                Err(e) => last = e,
            }
            if Instant::now() > deadline {
                let page = self.command(
                    "POST",
                    "/execute/sync",
                    Some(json!({"script": "return document.body.innerText", "args": []})),
                );
                panic!(
                    "waited {PATIENCE:?} for {what}; last error: {last}; the page shows:\n{}",
                    page.unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({"url": url}))).unwrap();
    }

    fn element(&self, css: &str) -> Result<String, String> {
        let found = self.command("POST", "/element", Some(json!({"using": "css selector", "value": css})))?;
        Ok(found[ELEMENT].as_str().unwrap().to_string())
    }

    /// Waits for `css` and clicks it, as a user would.
    pub fn click(&self, css: &str) {
        self.eventually(&format!("a clickable {css}"), || {
            let id = self.element(css)?;
            self.command("POST", &format!("/element/{id}/click"), None).map(Some)
        });
    }

    /// Waits for `css`, clears it and types `text`.
    pub fn fill(&self, css: &str, text: &str) {
        self.eventually(&format!("an input {css}"), || {
            let id = self.element(css)?;
            self.command("POST", &format!("/element/{id}/clear"), None)?;
            self.command("POST", &format!("/element/{id}/value"), Some(json!({"text": text}))).map(Some)
        });
    }

    /// The visible text of `css`, once it contains `expected`.
    pub fn wait_text(&self, css: &str, expected: &str) -> String {
        self.eventually(&format!("{css} to show {expected:?}"), || {
            let id = self.element(css)?;
            let text = self.command("GET", &format!("/element/{id}/text"), None)?;
            let text = text.as_str().unwrap_or_default().to_string();
            Ok(text.contains(expected).then_some(text))
        })
    }

    /// The visible text of the whole page.
    pub fn page_text(&self) -> String {
        self.script("return document.body.innerText").as_str().unwrap_or_default().to_string()
    }

    /// The value of an input.
    pub fn value(&self, css: &str) -> String {
        let id = self.eventually(&format!("an input {css}"), || self.element(css).map(Some));
        let v = self.command("GET", &format!("/element/{id}/property/value"), None).unwrap();
        v.as_str().unwrap_or_default().to_string()
    }

    /// How many elements match `css` right now.
    pub fn count(&self, css: &str) -> usize {
        self.command("POST", "/elements", Some(json!({"using": "css selector", "value": css})))
            .map(|v| v.as_array().map_or(0, |a| a.len()))
            .unwrap_or(0)
    }

    /// Waits for a `confirm()` dialog, checks its text, and accepts it.
    pub fn accept_dialog(&self, expected: &str) {
        let text = self.eventually("a dialog", || match self.command("GET", "/alert/text", None) {
            Ok(t) => Ok(Some(t.as_str().unwrap_or_default().to_string())),
            Err(e) if e.contains("no such alert") => Ok(None),
            Err(e) => Err(e),
        });
        assert!(text.contains(expected), "the dialog says {text:?}");
        self.command("POST", "/alert/accept", None).unwrap();
    }

    pub fn script(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", Some(json!({"script": script, "args": []}))).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.command("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
