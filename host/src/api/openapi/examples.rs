//! The document's examples: one project's story, from its creation to a chat answered by its
//! webhook. The openapi test validates each against its schema and sends the requests, in order, to
//! a real host (the webhook's `localhost:8081` replaced by a real upstream's address).

use serde_json::{Value, json};

/// The example project's key, as the create answer shows it.
const KEY: &str = "fbk_demo.k3Jx9QmV2bT8wYc4nR7pLs1aZe6uHd0F";
const SEND_ID: &str = "whatsapp:+14155238886";
const MESSAGE: &str = "What are your opening hours?";

pub fn create_project() -> Value {
    json!({ "id": "demo", "name": "Demo bot" })
}

pub fn project_created() -> Value {
    json!({
        "id": "demo",
        "name": "Demo bot",
        "match_threshold": 0.3,
        "created_at": "2026-11-26T09:30:00Z",
        "api_key": KEY
    })
}

pub fn project() -> Value {
    json!({ "id": "demo", "name": "Demo bot", "match_threshold": 0.3, "created_at": "2026-11-26T09:30:00Z" })
}

pub fn projects() -> Value {
    json!({ "projects": [project()] })
}

pub fn update_project() -> Value {
    json!({ "match_threshold": 0.5 })
}

pub fn project_key() -> Value {
    json!({ "id": "demo", "api_key": "fbk_demo.Wq5Zr2Nc8Lx4Tv7Bm1Ks9Pd3Hf6Jy0Ga" })
}

pub fn put_intent() -> Value {
    json!({
        "examples": ["hello", "hi there", "good morning"],
        "responses": ["Hello! How can I help?"]
    })
}

pub fn intent() -> Value {
    let mut intent = put_intent();
    intent["id"] = json!("greeting");
    intent["updated_at"] = json!("2026-11-26T09:31:00Z");
    intent
}

pub fn model_status() -> Value {
    json!({
        "matcher": "lexical",
        "state": "trained",
        "intents": 3,
        "examples": 12,
        "threshold": 0.3,
        "trained_at": "2026-11-26T09:31:01Z",
        "training_ms": 4,
        "model_bytes": 48210
    })
}

pub fn intents() -> Value {
    json!({ "intents": [intent()] })
}

pub fn put_secret() -> Value {
    json!({ "value": "sk-live-4f9a2c7e" })
}

pub fn secret_name() -> Value {
    json!({ "name": "upstream_key" })
}

pub fn secrets() -> Value {
    json!({ "secrets": ["upstream_key"] })
}

/// The webhook of the design: the user's message to an answer API, its `message` as the reply.
pub fn put_webhook() -> Value {
    json!({
        "method": "GET",
        "url": "http://localhost:8081/chat?input={latest_message}&chatId={send_id}",
        "headers": { "Authorization": "Bearer {secret.upstream_key}" },
        "body": null,
        "timeout_ms": 5000,
        "retries": 0,
        "response": {
            "extract": { "reply": "$.message" },
            "success": "{reply}",
            "failure": "Sorry, I can't answer that right now."
        },
        "plugin_config": {}
    })
}

pub fn webhook() -> Value {
    let mut webhook = put_webhook();
    webhook["id"] = json!("answer");
    webhook
}

pub fn webhooks() -> Value {
    json!({ "webhooks": ["answer"] })
}

pub fn invalid_webhook() -> Value {
    json!({
        "error": {
            "code": "invalid_webhook",
            "message": "response.success: unknown variable `{area}`: define it in response.extract or list it in response.variables",
            "details": [{
                "field": "response.success",
                "message": "unknown variable `{area}`: define it in response.extract or list it in response.variables"
            }]
        }
    })
}

pub fn plugin_uploaded() -> Value {
    json!({
        "version": 2,
        "sha256": "9f2c4b1e7a6d5c3b8e0f1a2d4c6b8e0f1a3c5e7d9b1f3a5c7e9d1b3f5a7c9e1d",
        "size": 48213
    })
}

pub fn plugin_versions() -> Value {
    json!({
        "active": 2,
        "versions": [
            {
                "version": 1,
                "sha256": "3b8e0f1a2d4c6b8e0f1a3c5e7d9b1f3a5c7e9d1b3f5a7c9e1d9f2c4b1e7a6d5c",
                "size": 47960,
                "uploaded_at": "2026-11-25T16:02:11Z"
            },
            {
                "version": 2,
                "sha256": "9f2c4b1e7a6d5c3b8e0f1a2d4c6b8e0f1a3c5e7d9b1f3a5c7e9d1b3f5a7c9e1d",
                "size": 48213,
                "uploaded_at": "2026-11-26T09:40:00Z"
            }
        ]
    })
}

pub fn rollback() -> Value {
    json!({ "version": 1 })
}

pub fn fallback_webhook() -> Value {
    json!({ "webhook": "answer" })
}

pub fn fallback_text() -> Value {
    json!({ "text": "Sorry, I did not understand. Try \"opening hours\"." })
}

pub fn test_webhook() -> Value {
    json!({ "latest_message": MESSAGE, "send_id": SEND_ID })
}

/// What the test console shows for the design's webhook: secrets as placeholders.
pub fn trace() -> Value {
    json!({
        "webhook": "answer",
        "request": {
            "method": "GET",
            "url": "http://localhost:8081/chat?input=What%20are%20your%20opening%20hours%3F&chatId=whatsapp%3A%2B14155238886",
            "headers": { "authorization": "Bearer {secret.upstream_key}" },
            "body": null
        },
        "upstream": {
            "status": 200,
            "headers": [["content-type", "application/json"]],
            "body": "{\"message\":\"We are open 9 am to 6 pm, Monday to Saturday.\"}",
            "body_truncated": false
        },
        "variables": { "reply": "We are open 9 am to 6 pm, Monday to Saturday." },
        "missing_variables": [],
        "plugin": null,
        "replies": [{ "text": "We are open 9 am to 6 pm, Monday to Saturday." }],
        "outcome": "success",
        "error": null,
        "timings_ms": {
            "request": 0.04,
            "upstream": 38.2,
            "mapping": 0.02,
            "plugin": 0.0,
            "reply": 0.01,
            "total": 38.4
        }
    })
}

pub fn chat() -> Value {
    json!({ "send_id": SEND_ID, "message": MESSAGE })
}

/// No intent matched: the webhook answered.
pub fn chat_answer() -> Value {
    json!({
        "send_id": SEND_ID,
        "replies": [{ "text": "We are open 9 am to 6 pm, Monday to Saturday." }],
        "intent": null,
        "fallback": true,
        "outcome": "success"
    })
}

pub fn conversation() -> Value {
    json!({
        "send_id": SEND_ID,
        "turns": [
            {
                "at": "2026-11-26T09:41:00Z",
                "message": "hello",
                "replies": [{ "text": "Hello! How can I help?" }],
                "intent": "greeting",
                "fallback": false,
                "outcome": "matched"
            },
            {
                "at": "2026-11-26T09:41:20Z",
                "message": MESSAGE,
                "replies": [{ "text": "We are open 9 am to 6 pm, Monday to Saturday." }],
                "intent": null,
                "fallback": true,
                "outcome": "success"
            }
        ]
    })
}
