//! The Shared Key signature of the Blob, Queue and Data Lake services, as
//! documented in "Authorize with Shared Key" (versions 2015-02-21 and later:
//! an empty Content-Length line when the body is empty).
//!
//! The canonicalized resource is `/{account}` followed by the request URL's
//! path exactly as sent (percent-encoded). For a path-style endpoint, such as
//! Azurite's `http://127.0.0.1:10000/devstoreaccount1`, that path starts
//! with the account again (`/devstoreaccount1/devstoreaccount1/container`):
//! the Azure SDKs sign it so, and Azurite checks it so. One rule serves both.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use reqwest::header::HeaderMap;
use sha2::Sha256;
use std::collections::BTreeMap;

/// The `Authorization` header value: `SharedKey {account}:{signature}`.
pub(crate) fn authorization(
    account: &str,
    key: &[u8],
    method: &Method,
    url: &url::Url,
    headers: &HeaderMap,
    content_length: usize,
) -> String {
    let to_sign = string_to_sign(account, method, url, headers, content_length);
    format!("SharedKey {account}:{}", sign(key, &to_sign))
}

/// Base64 of the HMAC-SHA256 of `text` under `key`.
pub(crate) fn sign(key: &[u8], text: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub(crate) fn string_to_sign(
    account: &str,
    method: &Method,
    url: &url::Url,
    headers: &HeaderMap,
    content_length: usize,
) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    let length = if content_length == 0 { String::new() } else { content_length.to_string() };
    let mut out = String::with_capacity(256);
    out.push_str(method.as_str());
    out.push('\n');
    for line in [
        header("content-encoding"),
        header("content-language"),
        &length,
        header("content-md5"),
        header("content-type"),
        header("date"),
        header("if-modified-since"),
        header("if-match"),
        header("if-none-match"),
        header("if-unmodified-since"),
        header("range"),
    ] {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&canonicalized_headers(headers));
    out.push_str(&canonicalized_resource(account, url));
    out
}

/// Every `x-ms-` header, by lowercase name, `name:value\n`, values unfolded.
fn canonicalized_headers(headers: &HeaderMap) -> String {
    let mut ms: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if name.as_str().starts_with("x-ms-") {
            let value = String::from_utf8_lossy(value.as_bytes());
            let unfolded = value.split_whitespace().collect::<Vec<_>>().join(" ");
            ms.entry(name.as_str()).or_default().push(unfolded);
        }
    }
    ms.iter().map(|(name, values)| format!("{name}:{}\n", values.join(","))).collect()
}

/// `/{account}{path}` then each query parameter, lowercase name and decoded
/// value(s), sorted by name, as `\nname:value[,value]`.
fn canonicalized_resource(account: &str, url: &url::Url) -> String {
    let mut out = format!("/{account}{}", url.path());
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url.query_pairs() {
        params.entry(name.to_lowercase()).or_default().push(value.into_owned());
    }
    for (name, mut values) in params {
        values.sort();
        out.push_str(&format!("\n{name}:{}", values.join(",")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn string_to_sign_follows_the_documented_layout() {
        let url =
            url::Url::parse("https://myaccount.blob.core.windows.net/mycontainer?restype=container&comp=metadata")
                .unwrap();
        let h = headers(&[
            ("x-ms-version", "2024-11-04"),
            ("x-ms-date", "Fri, 26 Jun 2015 23:39:12 GMT"),
            ("x-ms-meta-b", "  two   words "),
            ("content-type", "text/plain"),
        ]);
        let s = string_to_sign("myaccount", &Method::PUT, &url, &h, 0);
        assert_eq!(
            s,
            "PUT\n\n\n\n\ntext/plain\n\n\n\n\n\n\n\
             x-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-meta-b:two words\nx-ms-version:2024-11-04\n\
             /myaccount/mycontainer\ncomp:metadata\nrestype:container"
        );
        assert!(string_to_sign("myaccount", &Method::PUT, &url, &h, 11).starts_with("PUT\n\n\n11\n"));
    }

    #[test]
    fn path_style_urls_repeat_the_account_and_query_values_are_decoded() {
        let url = url::Url::parse(
            "http://127.0.0.1:10000/devstoreaccount1/c?restype=container&comp=list&prefix=a%20b%2F&Marker=x",
        )
        .unwrap();
        assert_eq!(
            canonicalized_resource("devstoreaccount1", &url),
            "/devstoreaccount1/devstoreaccount1/c\ncomp:list\nmarker:x\nprefix:a b/\nrestype:container"
        );
        let root = url::Url::parse("https://myaccount.blob.core.windows.net/?comp=list").unwrap();
        assert_eq!(canonicalized_resource("myaccount", &root), "/myaccount/\ncomp:list");
    }

    #[test]
    fn signature_is_hmac_sha256_in_base64() {
        // RFC 4231, test case 2.
        assert_eq!(sign(b"Jefe", "what do ya want for nothing?"), "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
    }
}
