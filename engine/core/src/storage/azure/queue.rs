//! [`QueueNotifier`]: one Azure Storage Queue message per committed run, so
//! that a consumer (an ingestion job, a Function) wakes up instead of polling
//! `LATEST`.
//!
//! The message text is base64 of the JSON, as the Azure SDKs and Functions'
//! queue trigger expect by default. The queue is created on first need: a
//! Put Message that gets `QueueNotFound` creates it and tries again, so the
//! usual case costs one request.

use super::AzureAccount;
use super::client::{Request, Service};
use super::xml;
use crate::storage::{StorageError, StorageErrorKind};
use base64::Engine as _;
use reqwest::Method;
use std::sync::Arc;

pub struct QueueNotifier {
    account: Arc<AzureAccount>,
    queue: String,
}

impl QueueNotifier {
    pub fn new(account: Arc<AzureAccount>, queue: String) -> Self {
        QueueNotifier { account, queue }
    }

    /// Put Message with the JSON, base64-encoded.
    pub fn notify(&self, json: &serde_json::Value) -> Result<(), StorageError> {
        let text = base64::engine::general_purpose::STANDARD.encode(json.to_string());
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><QueueMessage><MessageText>{text}</MessageText></QueueMessage>"
        );
        let path = format!("{}/messages", self.queue);
        let put = Request::new(Method::POST, Service::Queue, &path)
            .header("content-type", "application/xml")
            .body(body.as_bytes());
        let mut response = Vec::new();
        let head = self.account.call(&put, &[404], &mut response)?;
        if head.status.as_u16() != 404 {
            return Ok(());
        }
        if head.error_code() != Some("QueueNotFound") {
            return Err(self.account.status_error(&put, &head, &response));
        }
        self.create()?;
        self.account.call(&put, &[], &mut response).map(|_| ())
    }

    /// Creates the queue if it is missing: the check of a sink before it is saved.
    pub fn check(&self) -> Result<(), StorageError> {
        self.create()
    }

    /// Create Queue; an existing queue is fine.
    fn create(&self) -> Result<(), StorageError> {
        let req = Request::new(Method::PUT, Service::Queue, &self.queue);
        let mut body = Vec::new();
        let head = self.account.call(&req, &[409], &mut body)?;
        if head.status.as_u16() == 409 && head.error_code() != Some("QueueAlreadyExists") {
            return Err(self.account.status_error(&req, &head, &body));
        }
        Ok(())
    }

    /// Peek Messages: up to 32 messages at the front of the queue, decoded,
    /// without taking them (for diagnostics and tests).
    pub fn peek(&self, max: u32) -> Result<Vec<serde_json::Value>, StorageError> {
        let path = format!("{}/messages", self.queue);
        let req = Request::new(Method::GET, Service::Queue, &path)
            .query("peekonly", "true")
            .query("numofmessages", max.clamp(1, 32).to_string());
        let mut body = Vec::new();
        self.account.call(&req, &[], &mut body)?;
        let list: xml::QueueMessagesList = xml::parse(&body).map_err(|m| self.account.bad_response(&req, m))?;
        list.messages
            .iter()
            .map(|m| {
                let text = m.message_text.as_deref().unwrap_or("").trim();
                let bytes =
                    base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_else(|_| text.as_bytes().to_vec());
                serde_json::from_slice(&bytes).map_err(|e| {
                    StorageError::new(StorageErrorKind::Other, &path, format!("a message is not base64 JSON: {e}"))
                })
            })
            .collect()
    }
}
