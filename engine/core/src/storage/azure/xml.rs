//! The Blob and Queue services' XML: listings, errors, queue messages.
//!
//! Only the elements Surveyor uses are declared; anything else the service
//! adds (new properties in later API versions) is ignored. Empty elements
//! (`<NextMarker />`) read as empty strings, which [`nonempty`] turns into `None`.

use serde::Deserialize;

pub(crate) fn parse<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the response is not UTF-8: {e}"))?;
    // The service starts its XML with a byte-order mark.
    let text = text.trim_start_matches('\u{feff}');
    quick_xml::de::from_str(text).map_err(|e| format!("unexpected XML from the service: {e}"))
}

pub(crate) fn nonempty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceError {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// List Containers.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ContainerList {
    #[serde(default)]
    pub containers: Containers,
    pub next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Containers {
    #[serde(rename = "Container", default)]
    pub items: Vec<Container>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Container {
    pub name: String,
    #[serde(default)]
    pub properties: ContainerProperties,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ContainerProperties {
    #[serde(rename = "Last-Modified")]
    pub last_modified: Option<String>,
    #[serde(rename = "Etag")]
    pub etag: Option<String>,
    #[serde(rename = "PublicAccess")]
    pub public_access: Option<String>,
}

/// List Blobs: blobs and, with a delimiter, virtual folders (`BlobPrefix`),
/// in the order the service gives them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BlobList {
    #[serde(default)]
    pub blobs: Blobs,
    pub next_marker: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Blobs {
    #[serde(rename = "$value", default)]
    pub items: Vec<BlobItem>,
}

// Deserialized into a page's Vec and consumed once: boxing the larger
// variant would only add an allocation per blob.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Deserialize)]
pub(crate) enum BlobItem {
    Blob(Blob),
    BlobPrefix(BlobPrefix),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Blob {
    pub name: Name,
    #[serde(default)]
    pub properties: BlobProperties,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BlobPrefix {
    pub name: Name,
}

/// A blob name; percent-encoded when `Encoded="true"` (names with characters
/// XML cannot carry).
#[derive(Debug, Deserialize)]
pub(crate) struct Name {
    #[serde(rename = "@Encoded", default)]
    pub encoded: Option<String>,
    #[serde(rename = "$text", default)]
    pub text: String,
}

impl Name {
    pub(crate) fn decoded(&self) -> String {
        if self.encoded.as_deref() == Some("true") {
            percent_encoding::percent_decode_str(&self.text).decode_utf8_lossy().into_owned()
        } else {
            self.text.clone()
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BlobProperties {
    #[serde(rename = "Creation-Time")]
    pub creation_time: Option<String>,
    #[serde(rename = "Last-Modified")]
    pub last_modified: Option<String>,
    #[serde(rename = "Etag")]
    pub etag: Option<String>,
    #[serde(rename = "Content-Length")]
    pub content_length: Option<String>,
    #[serde(rename = "Content-Type")]
    pub content_type: Option<String>,
    #[serde(rename = "Content-Encoding")]
    pub content_encoding: Option<String>,
    #[serde(rename = "Content-Language")]
    pub content_language: Option<String>,
    #[serde(rename = "Content-MD5")]
    pub content_md5: Option<String>,
    #[serde(rename = "Cache-Control")]
    pub cache_control: Option<String>,
    #[serde(rename = "BlobType")]
    pub blob_type: Option<String>,
    #[serde(rename = "AccessTier")]
    pub access_tier: Option<String>,
    #[serde(rename = "AccessTierInferred")]
    pub access_tier_inferred: Option<String>,
    #[serde(rename = "LeaseStatus")]
    pub lease_status: Option<String>,
    #[serde(rename = "LeaseState")]
    pub lease_state: Option<String>,
    #[serde(rename = "ServerEncrypted")]
    pub server_encrypted: Option<String>,
    /// Hierarchical-namespace accounts: `file` or `directory`.
    #[serde(rename = "ResourceType")]
    pub resource_type: Option<String>,
    #[serde(rename = "Owner")]
    pub owner: Option<String>,
    #[serde(rename = "Group")]
    pub group: Option<String>,
    #[serde(rename = "Permissions")]
    pub permissions: Option<String>,
}

/// Peek/Get Messages.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueueMessagesList {
    #[serde(rename = "QueueMessage", default)]
    pub messages: Vec<QueueMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct QueueMessage {
    pub message_text: Option<String>,
}

/// Text for an XML element: `&`, `<` and `>` escaped.
pub(crate) fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_listing_keeps_blobs_and_prefixes_in_order() {
        let body = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?>\
            <EnumerationResults ServiceEndpoint=\"https://a.blob.core.windows.net/\" ContainerName=\"c\">\
            <Prefix>d/</Prefix><MaxResults>5000</MaxResults><Delimiter>/</Delimiter><Blobs>\
            <Blob><Name>d/a.txt</Name><Properties><Creation-Time>Mon, 01 Jan 2024 00:00:00 GMT</Creation-Time>\
            <Last-Modified>Tue, 02 Jan 2024 00:00:00 GMT</Last-Modified><Etag>0x8DC</Etag>\
            <Content-Length>12</Content-Length><Content-Type>text/plain</Content-Type><Content-Encoding />\
            <BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>\
            </Properties><Metadata /><OrMetadata /></Blob>\
            <BlobPrefix><Name>d/b/</Name></BlobPrefix>\
            <Blob><Name Encoded=\"true\">d/c%EF%BF%BE.txt</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>\
            </Blobs><NextMarker>2!abc</NextMarker></EnumerationResults>";
        let list: BlobList = parse(body.as_bytes()).unwrap();
        assert_eq!(list.next_marker.as_deref(), Some("2!abc"));
        let names: Vec<String> = list
            .blobs
            .items
            .iter()
            .map(|i| match i {
                BlobItem::Blob(b) => b.name.decoded(),
                BlobItem::BlobPrefix(p) => format!("prefix {}", p.name.decoded()),
            })
            .collect();
        assert_eq!(names, ["d/a.txt", "prefix d/b/", "d/c\u{fffe}.txt"]);
        let BlobItem::Blob(first) = &list.blobs.items[0] else { panic!() };
        assert_eq!(first.properties.access_tier.as_deref(), Some("Hot"));
        assert_eq!(nonempty(&first.properties.content_encoding), None);
    }

    #[test]
    fn empty_listings_and_markers() {
        let body = b"<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>";
        let list: BlobList = parse(body).unwrap();
        assert!(list.blobs.items.is_empty());
        assert_eq!(nonempty(&list.next_marker), None);
        let body = b"<EnumerationResults><Containers><Container><Name>a</Name><Properties>\
            <Last-Modified>Mon, 01 Jan 2024 00:00:00 GMT</Last-Modified><Etag>\"0x1\"</Etag><PublicAccess>blob</PublicAccess>\
            </Properties></Container><Container><Name>b</Name></Container></Containers><NextMarker/></EnumerationResults>";
        let list: ContainerList = parse(body).unwrap();
        assert_eq!(list.containers.items.len(), 2);
        assert_eq!(list.containers.items[0].properties.public_access.as_deref(), Some("blob"));
    }
}
