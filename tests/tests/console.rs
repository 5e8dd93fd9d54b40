//! The bot builder's console in a real browser (headless Chromium through chromedriver): the real
//! host and a real upstream, and every step through the UI, as a bot builder does it with the
//! mouse. Each test saves screenshots into `target/console-screenshots/`.

use fallback_tests::browser::Browser;
use fallback_tests::host::{ADMIN_TOKEN, TestHost};
use fallback_tests::upstream::Upstream;
use fallback_tests::wasm;
use reqwest::StatusCode;

const FAILURE: &str = "Sorry, I can't answer that right now.";

async fn sign_in_with_key(browser: &Browser, host: &TestHost, key: &str) {
    browser.goto(&host.url("/console")).await;
    browser.fill("#signin-key", key).await;
    browser.click("#signin-key-submit").await;
    browser.find("#fallback-form").await;
}

/// The seed's webhook, typed into the editor: `GET {url}?input={latest_message}&chatId={send_id}`
/// with the variables inserted by their buttons, `$.message → reply`, success `{reply}`.
async fn create_seed_webhook(browser: &Browser, name: &str, url: &str) {
    browser.click("#new-webhook").await;
    browser.fill("#wh-name", name).await;
    browser.select("#wh-method", "GET").await;
    browser.fill("#wh-url", &format!("{url}?input=")).await;
    browser.click("#insert-latest-message").await;
    browser.type_in("#wh-url", "&chatId=").await;
    browser.click("#insert-send-id").await;
    browser.click("#add-extract").await;
    browser.fill("#wh-extract .extract-path", "$.message").await;
    browser.fill("#wh-extract .extract-var", "reply").await;
    browser.fill("#wh-success", "{reply}").await;
    browser.fill("#wh-failure", FAILURE).await;
    browser.fill("#wh-timeout", "2000").await;
    browser.click("#wh-save").await;
    // Saved: the editor reopens on the webhook, with its plugin panel and test console.
    browser.find("#plugin-panel").await;
    assert!(browser.text("#webhook-title").await.contains(name));
}

/// Picks the webhook as the project's Fallback on the overview.
async fn use_as_fallback(browser: &Browser, project: &str, webhook: &str) {
    browser.click(&format!("#nav a[href='#/p/{project}']")).await;
    browser.click("#fallback-kind-webhook").await;
    browser.select("#fallback-webhook", webhook).await;
    browser.click("#fallback-save").await;
    browser.wait_text("#fallback-status", &format!("the webhook {webhook}")).await;
}

/// Sends a message in the chat tester on `send_id` and waits for `expected` in the conversation.
async fn chat(browser: &Browser, project: &str, send_id: &str, message: &str, expected: &str) -> String {
    browser.click(&format!("#nav a[href='#/p/{project}/chat']")).await;
    browser.fill("#chat-send-id", send_id).await;
    browser.click("#chat-history").await;
    browser.fill("#chat-message", message).await;
    browser.click("#chat-send").await;
    browser.wait_text("#chat-log", expected).await
}

async fn open_webhook(browser: &Browser, project: &str, webhook: &str) {
    browser.click(&format!("#nav a[href='#/p/{project}']")).await;
    browser.click(&format!("#webhook-list a[href='#/p/{project}/webhooks/{webhook}']")).await;
    browser.find("#plugin-panel").await;
}

/// Runs the test console and answers the trace's text once its outcome shows.
async fn run_test_console(browser: &Browser, message: &str, send_id: &str) -> String {
    // A fresh trace each time: drop the previous one first.
    browser.fill("#test-message", message).await;
    browser.fill("#test-send-id", send_id).await;
    browser.script("document.getElementById('test-output').replaceChildren(); return null").await;
    browser.click("#test-run").await;
    browser.wait_text("#trace-outcome", "Outcome").await;
    browser.text("#trace").await
}

#[tokio::test]
async fn the_seeds_flow_with_the_mouse_answers_in_the_chat_tester() {
    let Some(browser) = Browser::start("the_seeds_flow").await else { return };
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;

    // The operator creates the project and sees its key once.
    browser.goto(&host.url("/console")).await;
    browser.fill("#signin-token", ADMIN_TOKEN).await;
    browser.click("#signin-token-submit").await;
    browser.fill("#new-project-id", "seed").await;
    browser.fill("#new-project-name", "Seed bot").await;
    browser.click("#create-project-submit").await;
    let key = browser.wait_text("#new-key", "fbk_seed.").await;
    browser.wait_text("#project-list", "Seed bot").await;
    browser.screenshot("seed-1-operator-projects").await;
    browser.click("#sign-out").await;
    browser.wait_text("#flash-message", "Signed out").await;

    // The bot builder signs in with it and does the seed's flow.
    sign_in_with_key(&browser, &host, key.trim()).await;
    create_seed_webhook(&browser, "answers", &upstream.url("/chat")).await;
    let url = browser.script("return document.getElementById('wh-url').value").await;
    assert_eq!(url, format!("{}?input={{latest_message}}&chatId={{send_id}}", upstream.url("/chat")));
    browser.screenshot("seed-2-webhook-editor").await;
    use_as_fallback(&browser, "seed", "answers").await;
    browser.screenshot("seed-3-overview").await;

    let log = chat(&browser, "seed", "conv-1", "what is the weather", "echo: what is the weather").await;
    assert!(log.contains("fallback, success"), "{log}");
    browser.screenshot("seed-4-chat-tester-1280").await;
    let requests = upstream.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].query_param("input").as_deref(), Some("what is the weather"));
    assert_eq!(requests[0].query_param("chatId").as_deref(), Some("conv-1"));

    // The history comes back from the host on a reload.
    browser.client.refresh().await.expect("reload");
    browser.wait_text("#chat-log", "echo: what is the weather").await;

    // Readable on a phone: nothing wider than the viewport.
    browser.set_width(390, 844).await;
    let overflow = browser
        .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert!(overflow.as_i64().unwrap_or(1) <= 0, "the chat tester scrolls sideways at 390 px: {overflow}");
    browser.screenshot("seed-5-chat-tester-390").await;
    open_webhook(&browser, "seed", "answers").await;
    let overflow = browser
        .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        .await;
    assert!(overflow.as_i64().unwrap_or(1) <= 0, "the editor scrolls sideways at 390 px: {overflow}");
    browser.screenshot("seed-6-webhook-editor-390").await;
    browser.close().await;
}

#[tokio::test]
async fn the_operator_rotates_a_key_and_deletes_a_project() {
    let Some(browser) = Browser::start("operator").await else { return };
    let host = TestHost::start().await;
    let old_key = host.create_project("alpha").await;
    host.create_project("beta").await;

    browser.goto(&host.url("/console")).await;
    browser.fill("#signin-token", ADMIN_TOKEN).await;
    browser.click("#signin-token-submit").await;
    browser.wait_text("#project-list", "beta").await;

    browser.click("tr[data-project='alpha'] button.rotate").await;
    browser.client.accept_alert().await.expect("confirm the rotation");
    let new_key = browser.wait_text("#new-key", "fbk_alpha.").await;
    assert_ne!(new_key.trim(), old_key);
    let (status, _) = host.call("GET", "/v1/projects/alpha", Some(&old_key), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old key still works");
    let (status, _) = host.call("GET", "/v1/projects/alpha", Some(new_key.trim()), None).await;
    assert_eq!(status, StatusCode::OK);
    browser.screenshot("operator-1-rotated").await;

    browser.click("tr[data-project='beta'] button.delete").await;
    browser.client.accept_alert().await.expect("confirm the deletion");
    browser.wait_text("#projects-status", "Project beta deleted").await;
    assert_eq!(browser.count("tr[data-project='beta']").await, 0);
    let (status, _) = host.call("GET", "/v1/projects/beta", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The operator opens a project's pages with the same token.
    browser.click("tr[data-project='alpha'] a").await;
    browser.find("#fallback-form").await;
    browser.set_width(390, 844).await;
    browser.click("#nav a[href='#/projects']").await;
    browser.wait_text("#project-list", "alpha").await;
    browser.screenshot("operator-2-projects-390").await;
    browser.close().await;
}

#[tokio::test]
async fn a_refused_webhook_shows_each_field_error_next_to_its_field() {
    let Some(browser) = Browser::start("field_errors").await else { return };
    let host = TestHost::start().await;
    let key = host.create_project("errs").await;
    sign_in_with_key(&browser, &host, &key).await;

    browser.click("#new-webhook").await;
    browser.fill("#wh-name", "bad").await;
    browser.fill("#wh-url", "ftp://example.com/x?q={latest_message}").await;
    browser.fill("#wh-timeout", "99999999").await;
    browser.fill("#wh-success", "{nowhere}").await;
    browser.click("#wh-save").await;

    let url_error = browser.wait_text("#err-url", "url:").await;
    assert!(url_error.contains("ftp"), "{url_error}");
    browser.wait_text("#err-timeout_ms", "timeout_ms:").await;
    browser.wait_text("#err-success", "response.success:").await;
    let invalid =
        browser.script("return document.getElementById('wh-url').getAttribute('aria-invalid')").await;
    assert_eq!(invalid, "true");
    assert_eq!(browser.text("#err-failure").await, "", "an untouched field has no error");
    browser.scroll_to("#err-url").await;
    browser.screenshot("errors-1-field-errors").await;
    browser.scroll_to("#err-success").await;
    browser.screenshot("errors-2-field-errors-below").await;

    // Nothing was stored.
    let (status, _) = host.call("GET", "/v1/projects/errs/webhooks/bad", Some(&key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    browser.close().await;
}

#[tokio::test]
async fn a_plugin_upload_changes_the_answer_and_an_older_version_brings_it_back() {
    let Some(browser) = Browser::start("plugins").await else { return };
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = host.create_project("plug").await;
    sign_in_with_key(&browser, &host, &key).await;
    create_seed_webhook(&browser, "answers", &upstream.url("/chat")).await;
    use_as_fallback(&browser, "plug", "answers").await;
    chat(&browser, "plug", "conv-1", "one", "echo: one").await;

    // json-reply reading `chatId` instead of the mapping's `$.message`.
    open_webhook(&browser, "plug", "answers").await;
    browser.fill("#wh-plugin-config", r#"{"field": "chatId"}"#).await;
    browser.click("#wh-save").await;
    browser.wait_text("#wh-status", "saved").await;
    let picker = browser.find("#plugin-file").await;
    picker.send_keys(wasm::JSON_REPLY).await.expect("choose json-reply");
    browser.wait_text("#plugin-status", "Version 1 uploaded").await;
    browser.wait_text("#plugin-versions", "Active: version 1").await;
    let trace = run_test_console(&browser, "two", "conv-9").await;
    assert!(trace.contains("Outcome: success"), "{trace}");
    assert!(trace.contains("conv-9") && trace.contains("Version 1"), "{trace}");

    // A second version that cannot read this config: the failure text, the plugin stage marked.
    let picker = browser.find("#plugin-file").await;
    picker.send_keys(wasm::QUICK_REPLIES).await.expect("choose quick-replies");
    browser.wait_text("#plugin-status", "Version 2 uploaded").await;
    let trace = run_test_console(&browser, "three", "conv-9").await;
    assert!(trace.contains("Outcome: failure") && trace.contains("Failed at plugin"), "{trace}");
    browser.scroll_to("#plugin-panel").await;
    browser.screenshot("plugins-1-bad-version").await;

    // Back to version 1, from the list.
    browser.click("#activate-1").await;
    browser.wait_text("#plugin-status", "Version 1 is active").await;
    let trace = run_test_console(&browser, "four", "conv-9").await;
    assert!(trace.contains("Outcome: success") && trace.contains("conv-9"), "{trace}");
    browser.scroll_to("#test-form").await;
    browser.screenshot("plugins-2-rolled-back").await;
    chat(&browser, "plug", "conv-10", "five", "conv-10").await;

    // An upload the runtime refuses shows the API's words, and stores nothing.
    open_webhook(&browser, "plug", "answers").await;
    let picker = browser.find("#plugin-file").await;
    picker.send_keys(wasm::OTHER_WORLD).await.expect("choose other-world");
    let refusal = browser.wait_text("#plugin-status", "Upload refused").await;
    browser.scroll_to("#plugin-panel").await;
    browser.screenshot("plugins-3-refused").await;
    let (_, versions) = host.call("GET", "/v1/projects/plug/webhooks/answers/plugin", Some(&key), None).await;
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2), "{refusal}");
    browser.close().await;
}

#[tokio::test]
async fn intents_secrets_and_a_text_fallback_from_the_overview() {
    let Some(browser) = Browser::start("overview").await else { return };
    let host = TestHost::start().await;
    let key = host.create_project("shop").await;
    sign_in_with_key(&browser, &host, &key).await;

    browser.click("#fallback-kind-text").await;
    browser.fill("#fallback-text", "No idea, sorry.").await;
    browser.click("#fallback-save").await;
    browser.wait_text("#fallback-current", "No idea, sorry.").await;

    browser.fill("#intent-id", "hours").await;
    browser.fill("#intent-examples", "when are you open\nopening hours").await;
    browser.fill("#intent-responses", "From 9 to 5.").await;
    browser.click("#intent-save").await;
    browser.wait_text("#intent-list", "From 9 to 5.").await;
    browser.screenshot("overview-1-intent").await;
    chat(&browser, "shop", "o-1", "when are you open", "From 9 to 5.").await;
    browser.wait_text("#chat-log", "intent hours").await;
    chat(&browser, "shop", "o-1", "do you sell bicycles", "No idea, sorry.").await;

    // Edited, then deleted.
    browser.click("#nav a[href='#/p/shop']").await;
    browser.click("[data-intent='hours'] .actions button").await;
    browser.fill("#intent-responses", "From 8 to 6.").await;
    browser.click("#intent-save").await;
    browser.wait_text("#intent-list", "From 8 to 6.").await;
    chat(&browser, "shop", "o-2", "opening hours", "From 8 to 6.").await;
    browser.click("#nav a[href='#/p/shop']").await;
    browser.click("[data-intent='hours'] .actions button.danger").await;
    browser.client.accept_alert().await.expect("confirm the deletion");
    browser.wait_text("#intent-list", "No intent").await;

    // A secret: set, listed by name only, inserted into a URL by name, deleted.
    browser.fill("#secret-name", "api_key").await;
    browser.fill("#secret-value", "s3cr3t-value").await;
    browser.click("#secret-save").await;
    browser.wait_text("#secret-list", "api_key").await;
    let page = browser.script("return document.body.textContent").await;
    assert!(!page.as_str().unwrap_or("").contains("s3cr3t-value"), "a secret's value is shown");
    browser.scroll_to("#secrets-title").await;
    browser.screenshot("overview-2-secret").await;
    browser.click("#new-webhook").await;
    browser.fill("#wh-url", "https://example.com/a?key=").await;
    browser.select("#insert-secret-name", "api_key").await;
    browser.click("#insert-secret").await;
    let url = browser.script("return document.getElementById('wh-url').value").await;
    assert_eq!(url, "https://example.com/a?key={secret.api_key}");
    browser.click("#nav a[href='#/p/shop']").await;
    browser.click("#secret-list button.danger").await;
    browser.client.accept_alert().await.expect("confirm the deletion");
    browser.wait_text("#secret-list", "No secret").await;
    browser.close().await;
}

#[tokio::test]
async fn a_quick_reply_button_sends_its_payload() {
    let Some(browser) = Browser::start("quick_replies").await else { return };
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = host.create_project("sizes").await;
    sign_in_with_key(&browser, &host, &key).await;
    create_seed_webhook(&browser, "sizes", &upstream.url("/options")).await;
    // Dropped on the panel, as a file dragged from the desktop (WebDriver cannot drag from
    // outside the page, so the drop event carries the file's bytes).
    let bytes = serde_json::json!(wasm::read(wasm::QUICK_REPLIES));
    browser
        .client
        .execute(
            "const file = new File([new Uint8Array(arguments[0])], 'quick_replies.wasm', {type: 'application/wasm'});
             const data = new DataTransfer();
             data.items.add(file);
             const zone = document.getElementById('plugin-drop');
             zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true}));
             zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
             return null;",
            vec![bytes],
        )
        .await
        .expect("drop the plugin");
    browser.wait_text("#plugin-status", "Version 1 uploaded").await;
    use_as_fallback(&browser, "sizes", "sizes").await;

    chat(&browser, "sizes", "q-1", "a coffee please", "Which size?").await;
    assert_eq!(browser.text(".quick-reply[data-payload='size-large']").await, "Large");
    browser.screenshot("quick-replies-1-buttons").await;
    browser.click(".quick-reply[data-payload='size-large']").await;
    browser.wait_text("#chat-log .bubble.user:nth-of-type(3)", "size-large").await;
    let start = std::time::Instant::now();
    while upstream.count() < 2 && start.elapsed() < std::time::Duration::from_secs(30) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let requests = upstream.requests();
    assert_eq!(requests.last().and_then(|r| r.query_param("input")).as_deref(), Some("size-large"));
    browser.screenshot("quick-replies-2-payload-sent").await;
    browser.close().await;
}

#[tokio::test]
async fn the_test_console_marks_the_failing_stage_with_its_code() {
    let Some(browser) = Browser::start("failing_stage").await else { return };
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = host.create_project("fail").await;
    sign_in_with_key(&browser, &host, &key).await;
    create_seed_webhook(&browser, "broken", &upstream.url("/status/500")).await;

    let trace = run_test_console(&browser, "hello", "console").await;
    assert!(trace.contains("Outcome: failure"), "{trace}");
    let failed = browser.text(".step.failed").await;
    assert!(failed.contains("Failed at upstream: upstream_status"), "{failed}");
    assert_eq!(browser.count(".step.failed").await, 1);
    let stage = browser.find(".step.failed").await.attr("data-stage").await.expect("data-stage");
    assert_eq!(stage.as_deref(), Some("upstream"));
    // The request sent and the upstream's status are shown above it.
    assert!(trace.contains("GET http://") && trace.contains("Status 500"), "{trace}");
    browser.scroll_to("#test-form").await;
    browser.screenshot("trace-1-failing-upstream").await;
    browser.close().await;
}

#[tokio::test]
async fn markup_in_an_upstream_answer_shows_as_text_and_runs_nothing() {
    let Some(browser) = Browser::start("markup").await else { return };
    let upstream = Upstream::start().await;
    let host = TestHost::start().await;
    let key = host.create_project("xss").await;
    sign_in_with_key(&browser, &host, &key).await;
    create_seed_webhook(&browser, "answers", &upstream.url("/chat")).await;
    use_as_fallback(&browser, "xss", "answers").await;

    // The upstream echoes the message: its answer is `echo: <img src=x onerror=alert(1)>`.
    let markup = "<img src=x onerror=alert(1)>";
    chat(&browser, "xss", "x-1", markup, &format!("echo: {markup}")).await;
    assert_eq!(browser.count("#chat-log img").await, 0, "the answer became an element");
    assert!(browser.client.get_alert_text().await.is_err(), "an alert opened");
    browser.screenshot("markup-1-chat-as-text").await;

    open_webhook(&browser, "xss", "answers").await;
    let trace = run_test_console(&browser, markup, "x-2").await;
    assert!(trace.contains(&format!("echo: {markup}")), "{trace}");
    assert_eq!(browser.count("#trace img").await, 0);
    browser.scroll_to("#trace").await;
    assert!(browser.client.get_alert_text().await.is_err(), "an alert opened");
    browser.screenshot("markup-2-trace-as-text").await;
    browser.close().await;
}

#[tokio::test]
async fn a_refused_key_returns_to_sign_in_with_a_message() {
    let Some(browser) = Browser::start("refused_key").await else { return };
    let host = TestHost::start().await;
    let key = host.create_project("keys").await;

    browser.goto(&host.url("/console")).await;
    browser.fill("#signin-key", "fbk_keys.not-the-key").await;
    browser.click("#signin-key-submit").await;
    browser.wait_text("#signin-key-status", "not valid").await;

    // Keyboard only: the key field has the focus, Enter submits.
    browser.goto(&host.url("/console")).await;
    let focused = browser.script("return document.activeElement.id").await;
    assert_eq!(focused, "signin-key");
    let field = browser.find("#signin-key").await;
    field.send_keys(&format!("{key}\u{E007}")).await.expect("type the key and Enter");
    browser.find("#fallback-form").await;
    let stored = browser.script("return document.cookie").await;
    assert_eq!(stored, "", "the key must not be a cookie");
    // The operator rotates the key while the bot builder works: their next action is refused.
    let (status, _) = host.call("POST", "/v1/projects/keys/key", Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    browser.click("#threshold-form button[type=submit]").await;
    browser.wait_text("#flash-message", "refused").await;
    browser.find("#signin-key").await;
    let kept = browser.script("return sessionStorage.length").await;
    assert_eq!(kept, 0, "the refused key is forgotten");
    browser.screenshot("keys-1-back-to-sign-in").await;
    browser.close().await;
}

#[tokio::test]
async fn console_responses_carry_a_strict_policy_and_revalidate() {
    let host = TestHost::start().await;
    for path in ["/console", "/console/", "/console/app.js", "/console/style.css", "/console/nope.js"] {
        let response = host.client.get(host.url(path)).send().await.expect("request");
        let headers = response.headers();
        let csp = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(
            csp.contains("connect-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(
            headers.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..]),
            "{path}"
        );
    }
    let page = host.client.get(host.url("/console")).send().await.expect("request");
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let script = host.client.get(host.url("/console/app.js")).send().await.expect("request");
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(script.headers()["cache-control"], "no-cache");
    let etag = script.headers()["etag"].clone();
    let again = host
        .client
        .get(host.url("/console/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let missing = host.client.get(host.url("/console/nope.js")).send().await.expect("request");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}
