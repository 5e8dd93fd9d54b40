//! `fallback-host demo`: the host with a ready project, a local example answer API on loopback
//! and the json-reply plugin attached, so a newcomer can chat with it in a minute.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use axum::Json;
use axum::extract::Query;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::new_project_key;
use crate::auth::hash_token;
use crate::config::Config;
use crate::server::{Host, shutdown_signal};
use crate::store::{Fallback, NewIntent, NewProject};
use crate::webhook::WebhookSpec;

/// The json-reply example plugin, built from `plugins/json-reply` by the build script.
const JSON_REPLY_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/json_reply.wasm"));

const PROJECT: &str = "demo";
const WEBHOOK: &str = "answers";

pub async fn run(mut config: Config, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    // A throwaway data dir unless asked otherwise: the demo starts the same way every time.
    let temporary = match data_dir {
        Some(dir) => {
            config.data_dir = dir;
            None
        }
        None => {
            let dir = tempfile::Builder::new().prefix("fallback-demo-").tempdir()?;
            config.data_dir = dir.path().to_path_buf();
            Some(dir)
        }
    };
    // The example answer API lives on loopback, which the policy refuses unless allowed.
    config.allow_networks.extend(["127.0.0.0/8".to_string(), "::1/128".to_string()]);

    let answers = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let answers_addr = answers.local_addr()?;
    tokio::spawn(async move {
        let app = axum::Router::new().route("/chat", get(answer));
        let _ = axum::serve(answers, app).await;
    });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    let host = Host::build(config).await?;
    let key = seed(&host, answers_addr).await?;
    print_instructions(address, &key, host.generated_admin_token.as_deref());
    host.serve(listener, shutdown_signal()).await?;
    drop(temporary);
    Ok(())
}

/// Creates (or re-creates) the demo project and returns its key.
async fn seed(host: &Host, answers: SocketAddr) -> anyhow::Result<String> {
    let state = &host.state;
    let store = &state.store;
    store.delete_project(PROJECT).await?;
    let key = new_project_key(PROJECT);
    store
        .create_project(NewProject {
            id: PROJECT.into(),
            name: "Demo bot".into(),
            key_hash: hash_token(&key),
            match_threshold: crate::classifier::DEFAULT_THRESHOLD,
        })
        .await?;
    let intents = [
        (
            "greeting",
            &["hello", "hi there", "good morning", "hey"][..],
            "Hello! Ask me anything: what I don't know, I look up.",
        ),
        (
            "hours",
            &["what are your opening hours", "when are you open", "opening times"][..],
            "We are open every day from 9:00 to 18:00.",
        ),
        ("thanks", &["thank you", "thanks a lot", "cheers"][..], "You're welcome!"),
    ];
    for (id, examples, response) in intents {
        store
            .put_intent(
                PROJECT,
                NewIntent {
                    id: id.into(),
                    examples: examples.iter().map(|text| text.to_string()).collect(),
                    responses: vec![response.to_string()],
                },
            )
            .await?;
    }
    let spec: WebhookSpec = serde_json::from_value(json!({
        "method": "GET",
        "url": format!("http://{answers}/chat?input={{latest_message}}&chatId={{send_id}}"),
        "timeout_ms": 5000,
        "response": {
            "extract": {"reply": "$.message"},
            "success": "{reply}",
            "failure": "Sorry, I can't answer that right now."
        },
        "plugin_config": {"field": "message"}
    }))?;
    state
        .pipeline
        .validate_webhook(&spec)
        .map_err(|errors| anyhow::anyhow!("demo webhook invalid: {errors:?}"))?;
    store.put_webhook(PROJECT, WEBHOOK, &serde_json::to_string(&spec)?).await?;
    let loaded = state.pipeline.validate_plugin(bytes::Bytes::from_static(JSON_REPLY_WASM)).await?;
    let sha256 = loaded.sha256_hex();
    store
        .add_plugin_version(
            PROJECT,
            WEBHOOK,
            &sha256,
            JSON_REPLY_WASM.to_vec(),
            host.state.config.limits.plugin_versions_kept,
        )
        .await?;
    store.set_fallback(PROJECT, Fallback::Webhook(WEBHOOK.into())).await?;
    Ok(key)
}

#[derive(Debug, Deserialize)]
struct AnswerQuery {
    #[serde(default)]
    input: String,
    #[serde(default, rename = "chatId")]
    chat_id: String,
}

/// The example answer API: what a bot builder's own service would be, in a few rules.
async fn answer(Query(query): Query<AnswerQuery>) -> Json<Value> {
    let input = query.input.to_lowercase();
    let message = if input.contains("weather") {
        "The demo forecast: sunny, 21 °C, light wind.".to_string()
    } else if input.contains("joke") {
        "Why do programmers prefer dark mode? Because light attracts bugs.".to_string()
    } else if input.contains("time") {
        let now = time::OffsetDateTime::now_utc();
        format!("It is {:02}:{:02} UTC.", now.hour(), now.minute())
    } else {
        format!(
            "The answer API received {:?} in conversation {}. Try asking about the weather or a joke.",
            query.input, query.chat_id
        )
    };
    Json(json!({ "message": message }))
}

fn print_instructions(address: SocketAddr, key: &str, admin: Option<&str>) {
    let base = format!("http://{address}/v1/projects/{PROJECT}");
    println!("\nFallback Host demo is running on http://{address}\n");
    if let Some(admin) = admin {
        println!("Admin token (shown once): {admin}\n");
    }
    println!("Project `{PROJECT}` key: {key}\n");
    println!("The console (sign in with the project key above, or the admin token):");
    println!("  http://{address}/console\n");
    println!("An intent match (no webhook call):");
    println!(
        "  curl -s {base}/chat -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n    -d '{{\"send_id\":\"alice\",\"message\":\"Hello!\"}}'\n"
    );
    println!("A fallback answered by the webhook and the json-reply plugin:");
    println!(
        "  curl -s {base}/chat -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n    -d '{{\"send_id\":\"alice\",\"message\":\"What is the weather like?\"}}'\n"
    );
    println!("The webhook's step-by-step trace in the test console:");
    println!(
        "  curl -s {base}/webhooks/{WEBHOOK}/test -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n    -d '{{\"latest_message\":\"tell me a joke\",\"send_id\":\"console\"}}'\n"
    );
    println!("The conversation so far:");
    println!("  curl -s {base}/conversations/alice -H 'Authorization: Bearer {key}'\n");
    println!("Press Ctrl-C to stop.");
}
