//! The HTTP API through the local stack's API Gateway and authorizer, as partners and staff see it.

use e2e::Stack;

fn demo_partner(stack: &Stack, index: usize) -> (String, String) {
    stack.partner_key(index)
}

/// A new active partner and an API key for it, made with chanctl: (partner id, key id, key).
fn partner_with_key(stack: &Stack, name: &str, country: &str) -> (String, String, String) {
    let partner = stack.chanctl(&[
        "partner",
        "create",
        "--name",
        name,
        "--country",
        country,
        "--status",
        "active",
    ]);
    let id = partner["id"].as_str().unwrap().to_string();
    assert_eq!(partner["country"], country.to_uppercase());
    let issued = stack.chanctl(&["key", "issue", "--role", "partner", "--principal", &id]);
    let key_id = issued["key_id"].as_str().unwrap().to_string();
    (id, key_id, issued["api_key"].as_str().unwrap().to_string())
}

#[test]
fn the_printed_example_request_answers_with_the_partner_record() {
    let stack = Stack::load();
    let (partner, key) = demo_partner(&stack, 0);
    let reply = stack.request("GET", &format!("/partners/{partner}"), Some(&key));
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(reply.body["id"], partner.as_str());
    assert_eq!(reply.body["name"], "Northwind Resellers");
    assert_eq!(reply.body["status"], "active");
}

#[test]
fn a_request_without_a_key_is_401() {
    let stack = Stack::load();
    let (partner, _) = demo_partner(&stack, 0);
    let reply = stack.request("GET", &format!("/partners/{partner}"), None);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["message"], "Unauthorized");
}

#[test]
fn a_revoked_or_malformed_key_is_403() {
    let stack = Stack::load();
    let (partner, _) = demo_partner(&stack, 0);
    let revoked = stack.demo()["revoked_key"]["api_key"].as_str().unwrap();
    for key in [revoked, "not-a-key", "trb_0123456789abcdef_short"] {
        let reply = stack.request("GET", &format!("/partners/{partner}"), Some(key));
        assert_eq!(reply.status, 403, "key {key:?}");
        assert_eq!(reply.body["message"], "Forbidden");
    }
}

#[test]
fn a_partner_cannot_see_another_partner() {
    let stack = Stack::load();
    let (_, key) = demo_partner(&stack, 0);
    let (other, _) = demo_partner(&stack, 1);
    let reply = stack.request("GET", &format!("/partners/{other}"), Some(&key));
    assert_eq!(reply.status, 404);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.body["status"], 404);
}

#[test]
fn a_channel_manager_sees_every_partner() {
    let stack = Stack::load();
    let manager = stack.demo()["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "channel_manager")
        .unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    for index in 0..3 {
        let (partner, _) = demo_partner(&stack, index);
        let reply = stack.request("GET", &format!("/partners/{partner}"), Some(&manager));
        assert_eq!(reply.status, 200, "{partner}: {:?}", reply.body);
    }
}

#[test]
fn a_key_issued_with_chanctl_works_until_it_is_revoked() {
    let stack = Stack::load();
    let (partner_id, key_id, key) = partner_with_key(&stack, "Wingtip Toys", "fr");
    let (partner_id, key) = (partner_id.as_str(), key.as_str());
    let path = format!("/partners/{partner_id}");
    assert_eq!(stack.request("GET", &path, Some(key)).status, 200);

    let revoked = stack.chanctl(&["key", "revoke", &key_id]);
    assert_eq!(revoked["status"], "revoked");
    // The authorizer reads keys consistently and the stack caches nothing: refused at once.
    assert_eq!(stack.request("GET", &path, Some(key)).status, 403);

    let listed = stack.chanctl(&["key", "list", "--principal", partner_id]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed.to_string().contains("revoked"));
    assert!(
        !listed.to_string().contains(key),
        "the key itself is never stored or shown again"
    );
}

#[test]
fn deactivating_a_partner_revokes_its_keys() {
    let stack = Stack::load();
    let (partner_id, _, key) = partner_with_key(&stack, "Litware Inc", "US");
    let (partner_id, key) = (partner_id.as_str(), key.as_str());
    let path = format!("/partners/{partner_id}");
    assert_eq!(stack.request("GET", &path, Some(key)).status, 200);

    let updated = stack.chanctl(&["partner", "set-status", partner_id, "inactive"]);
    assert_eq!(updated["status"], "inactive");
    assert_eq!(stack.request("GET", &path, Some(key)).status, 403);
}
