//! A real browser for the console's tests: Debian's `chromium`, headless, driven through
//! `chromedriver` (WebDriver) with fantoccini. Missing either, a test is skipped with the reason,
//! or fails when `CI` is set (`.ci/run` installs both).

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long a step may take to show its result: generous, the machine is shared. Nothing
/// asserts a time; this only bounds a test that would otherwise wait forever.
const PATIENCE: Duration = Duration::from_secs(30);

/// One browser at a time: each is a few hundred MB and a core's worth of work at start.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A headless Chromium session, its chromedriver and its profile dir; all go when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

fn find(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    candidates.iter().map(PathBuf::from).find(|path| path.is_file())
}

impl Browser {
    /// The browser, or `None` (after saying why) when chromium or chromedriver is missing and
    /// `CI` is unset. Under `CI` a missing browser fails the test.
    pub async fn start(test: &str) -> Option<Self> {
        let chromium = find("FALLBACK_CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let driver = find("FALLBACK_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let reason = "chromium or chromedriver not found (Debian: apt-get install -y chromium chromium-driver; \
                          or set FALLBACK_CHROMIUM and FALLBACK_CHROMEDRIVER)";
            assert!(std::env::var_os("CI").is_none(), "{test}: {reason}");
            // Straight to stderr, past the test harness's capture, so a passing run says it.
            let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}");
            return None;
        };
        let turn = TURN.lock().await;
        let port = free_port();
        let mut driver = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&url, &mut driver).await;

        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Tests run as root in a container: Chromium's sandbox needs namespaces.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .expect("a chromium session through chromedriver");
        Some(Self { client, driver, _profile: profile, _turn: turn })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    /// The element matching `css`, once there.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces a field's text with `text`, typed as a user would.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        element.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Types `text` at the end of what a field holds.
    pub async fn type_in(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    pub async fn select(&self, css: &str, value: &str) {
        let element = self.find(css).await;
        element.select_by_value(value).await.unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// The visible text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Waits until the text of `css` contains `needle`; answers that text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < PATIENCE {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {needle:?}; it shows {last:?}");
    }

    /// Counts the elements matching `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.map(|all| all.len()).unwrap_or(0)
    }

    /// Runs a script in the page (for reading state only: the tests act through the UI).
    pub async fn script(&self, source: &str) -> Value {
        self.client.execute(source, vec![]).await.unwrap_or_else(|e| panic!("script {source}: {e}"))
    }

    /// Scrolls `css` to the top of the viewport, so a screenshot shows it.
    pub async fn scroll_to(&self, css: &str) {
        self.find(css).await;
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'})",
                vec![json!(css)],
            )
            .await
            .unwrap_or_else(|e| panic!("scroll to {css}: {e}"));
    }

    /// Saves the page as `target/console-screenshots/<name>.png`: the run's artifact.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    pub async fn set_width(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap_or_else(|e| panic!("window size: {e}"));
    }

    /// Ends the session; the driver is killed when dropped.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `target/console-screenshots`, under `CARGO_TARGET_DIR` when set.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    listener.local_addr().expect("addr").port()
}

async fn wait_for_driver(url: &str, driver: &mut Child) {
    let client = reqwest::Client::new();
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Ok(Some(status)) = driver.try_wait() {
            panic!("chromedriver exited at start: {status}");
        }
        if client.get(format!("{url}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not answer on {url}");
}
