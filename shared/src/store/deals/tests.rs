//! The deal store against moto: transitions, locks, claims, listing and paging.

use super::*;
use crate::domain::ConflictKind;
use crate::domain::deal::{Action, DealRequest, RejectionReason, transition};
use crate::testing;
use chrono::Duration;

fn new_deal(partner: &PartnerId, customer: &str, products: &[&str]) -> (Deal, HistoryEntry) {
    let request: DealRequest = serde_json::from_value(serde_json::json!({
        "end_customer": {"name": customer, "domain": format!("{}.com", customer.to_lowercase().chars().filter(char::is_ascii_alphanumeric).collect::<String>()), "country": "US"},
        "products": products,
        "estimated_value": {"amount": "5000", "currency": "USD"},
        "expected_close_date": "2099-01-01"
    }))
    .unwrap();
    let valid = request.validate(Utc::now().date_naive(), |_| true).unwrap();
    Deal::register(partner.clone(), valid, Utc::now())
}

async fn stored(
    store: &DynamoStore,
    partner: &PartnerId,
    customer: &str,
    products: &[&str],
) -> Deal {
    let (deal, entry) = new_deal(partner, customer, products);
    store.create_deal(&deal, &entry).await.unwrap();
    deal
}

async fn step(store: &DynamoStore, deal: &Deal, action: Action) -> Result<Deal, StoreError> {
    let (after, entry) = transition(deal, &action, "tester", Utc::now()).unwrap();
    store
        .apply_transition(deal, &after, &entry)
        .await
        .map(|()| after)
}

fn approve() -> Action {
    Action::Approve {
        protection: Duration::days(90),
    }
}

#[tokio::test]
async fn a_deal_reads_back_with_its_history() {
    let store = testing::table().await;
    let partner = PartnerId::generate();
    let deal = stored(&store, &partner, "ABC Computers", &["A", "B"]).await;
    let approved = step(&store, &deal, approve()).await.unwrap();
    let (read, history) = store.get_deal(&deal.id).await.unwrap().unwrap();
    assert_eq!(read, approved);
    let states: Vec<_> = history.iter().map(|h| (h.from, h.to)).collect();
    assert_eq!(
        states,
        [
            (None, DealStatus::Submitted),
            (Some(DealStatus::Submitted), DealStatus::Approved)
        ]
    );
    assert!(store.get_deal(&DealId::generate()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_stale_transition_is_refused_and_changes_nothing() {
    let store = testing::table().await;
    let deal = stored(&store, &PartnerId::generate(), "ABC", &["A"]).await;
    step(&store, &deal, Action::Reject(RejectionReason::Incomplete))
        .await
        .unwrap();
    // A second decision computed from the same (now stale) read.
    let err = step(&store, &deal, approve()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(ref c) if c.kind == ConflictKind::StaleVersion),
        "{err}"
    );
    let (read, history) = store.get_deal(&deal.id).await.unwrap().unwrap();
    assert_eq!(read.status, DealStatus::Rejected);
    assert_eq!(history.len(), 2);
}

#[tokio::test]
async fn two_conflicting_deals_can_never_both_be_approved() {
    let store = testing::table().await;
    let first = stored(
        &store,
        &PartnerId::generate(),
        "ABC Computers, Inc.",
        &["A", "B"],
    )
    .await;
    let second = stored(&store, &PartnerId::generate(), "abc computers", &["B", "C"]).await;
    let (a, b) = tokio::join!(
        step(&store, &first, approve()),
        step(&store, &second, approve())
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one approval wins: {a:?} / {b:?}"
    );
    let loser = if a.is_ok() { b } else { a };
    assert!(
        matches!(loser, Err(StoreError::Conflict(ref c)) if c.kind == ConflictKind::LockHeld),
        "{loser:?}"
    );
}

#[tokio::test]
async fn a_lost_deal_frees_its_customer_and_products() {
    let store = testing::table().await;
    let first = stored(&store, &PartnerId::generate(), "ABC", &["A"]).await;
    let second = stored(&store, &PartnerId::generate(), "ABC", &["A"]).await;
    let approved = step(&store, &first, approve()).await.unwrap();
    assert!(step(&store, &second, approve()).await.is_err());
    step(&store, &approved, Action::Lose).await.unwrap();
    step(&store, &second, approve()).await.unwrap();
}

#[tokio::test]
async fn claims_are_found_by_name_or_domain() {
    let store = testing::table().await;
    let deal = stored(&store, &PartnerId::generate(), "ABC Computers", &["A"]).await;
    stored(&store, &PartnerId::generate(), "Unrelated", &["A"]).await;
    let by_name = CustomerKeys {
        name: "abc computers".into(),
        domain: None,
    };
    let by_domain = CustomerKeys {
        name: "something else".into(),
        domain: Some("abccomputers.com".into()),
    };
    for keys in [by_name, by_domain] {
        let claims = store.claims_on(&keys).await.unwrap();
        assert_eq!(claims.len(), 1, "{keys:?}");
        assert_eq!(claims[0].0, deal.id);
        assert_eq!(claims[0].1.status, DealStatus::Submitted);
    }
}

#[tokio::test]
async fn lists_a_partners_deals_page_by_page_and_by_status() {
    let store = testing::table().await;
    let partner = PartnerId::generate();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            stored(&store, &partner, &format!("Customer {n}"), &["A"])
                .await
                .id,
        );
    }
    stored(&store, &PartnerId::generate(), "Elsewhere", &["A"]).await;
    let mut seen = Vec::new();
    let mut query = DealQuery {
        partner: Some(partner.clone()),
        limit: 2,
        ..Default::default()
    };
    loop {
        let page = store.list_deals(&query).await.unwrap();
        seen.extend(page.deals.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    ids.reverse(); // newest first
    assert_eq!(seen, ids);
    let by_status = DealQuery {
        status: Some(DealStatus::Submitted),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.list_deals(&by_status).await.unwrap().deals.len(), 6);
    let bad = DealQuery {
        partner: Some(partner),
        limit: 2,
        cursor: Some("zz".into()),
        ..Default::default()
    };
    assert!(store.list_deals(&bad).await.is_err());
}

/// Every page of `query`, following its `next_cursor`.
async fn every_page(store: &DynamoStore, mut query: DealQuery) -> Vec<DealId> {
    let mut seen = Vec::new();
    loop {
        let page = store.list_deals(&query).await.unwrap();
        seen.extend(page.deals.into_iter().map(|d| d.id));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return seen,
        }
    }
}

/// A cursor pages only the listing that issued it: a hand-made one, or one of another
/// listing, is `InvalidCursor` (a 400), never a start key DynamoDB refuses (a 5xx).
#[tokio::test]
async fn a_cursor_pages_only_the_listing_that_issued_it() {
    let store = testing::table().await;
    let partner = PartnerId::generate();
    let other = PartnerId::generate();
    for n in 0..3 {
        stored(&store, &partner, &format!("Customer {n}"), &["A"]).await;
    }
    stored(&store, &other, "Elsewhere", &["A"]).await;
    let queue = DealQuery {
        status: Some(DealStatus::Submitted),
        limit: 1,
        ..Default::default()
    };
    let own = DealQuery {
        partner: Some(partner.clone()),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(every_page(&store, queue.clone()).await.len(), 4);
    assert_eq!(every_page(&store, own.clone()).await.len(), 3);
    let first_cursor =
        async |query: &DealQuery| store.list_deals(query).await.unwrap().next_cursor.unwrap();
    let queue_cursor = first_cursor(&queue).await;
    let own_cursor = first_cursor(&own).await;
    let refused = [
        // The defect's cursor: {"pk":"x"}.
        (&queue, "7b22706b223a2278227d".to_string()),
        // The partner listing's cursor (gsi1 keys) in the status queue, and back.
        (&queue, own_cursor.clone()),
        (&own, queue_cursor.clone()),
        // Another queue, another partner: the same key names, another partition.
        (
            &DealQuery {
                status: Some(DealStatus::Approved),
                ..queue.clone()
            },
            queue_cursor.clone(),
        ),
        (
            &DealQuery {
                partner: Some(other.clone()),
                ..own.clone()
            },
            own_cursor.clone(),
        ),
        (&queue, "zz".into()),
        (&queue, "ab".repeat(2000)),
    ];
    let mut taken = Vec::new();
    for (query, cursor) in refused {
        let answer = store
            .list_deals(&DealQuery {
                cursor: Some(cursor.clone()),
                ..query.clone()
            })
            .await;
        if !matches!(answer, Err(StoreError::InvalidCursor)) {
            let answer = answer.map(|page| page.deals.len());
            taken.push(format!("{query:?} with {cursor:.40}: {answer:.160?}"));
        }
    }
    assert!(taken.is_empty(), "{taken:#?}");
}

#[tokio::test]
async fn approved_deals_come_due_at_the_end_of_protection() {
    let store = testing::table().await;
    let deal = stored(&store, &PartnerId::generate(), "ABC", &["A"]).await;
    let approved = step(&store, &deal, approve()).await.unwrap();
    let until = approved.protected_until.unwrap();
    assert!(
        store
            .deals_due(DealStatus::Approved, until - Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.deals_due(DealStatus::Approved, until).await.unwrap();
    assert_eq!(due.iter().map(|d| &d.id).collect::<Vec<_>>(), [&deal.id]);
    store.mark_expiry_warned(&approved).await.unwrap();
    assert!(
        store
            .get_deal(&deal.id)
            .await
            .unwrap()
            .unwrap()
            .0
            .expiry_warned
    );
    assert!(
        store.mark_expiry_warned(&deal).await.is_err(),
        "stale version"
    );
}
