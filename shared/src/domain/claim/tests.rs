//! Each validation fault and each rejection reason, on hand-made claims.

use chrono::{NaiveDate, Utc};

use super::*;

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn usd(amount: &str) -> Money {
    Money::parse(amount, "USD").unwrap()
}

fn partner() -> PartnerId {
    "ptn_01jc0000000000000000000000".parse().unwrap()
}

fn fund() -> Fund {
    let mut fund = FundRequest {
        partner_id: partner(),
        name: "FY26 H1 MDF".into(),
        amount: usd("10000"),
        starts_on: day("2026-01-01"),
        ends_on: day("2026-06-30"),
        expires_on: day("2026-09-30"),
    }
    .into_fund()
    .unwrap();
    fund.id = "fnd_01jc0000000000000000000000".parse().unwrap();
    fund
}

fn draft(amount: &str) -> ClaimDraft {
    ClaimDraft {
        fund_id: fund().id,
        activity_type: "event".into(),
        activity_starts_on: day("2026-03-01"),
        activity_ends_on: day("2026-03-02"),
        amount: usd(amount),
        invoice_number: "INV-9".into(),
        mdf_request_id: None,
        documents: vec![DocumentDraft {
            file_name: "invoice.pdf".into(),
            content_type: "application/pdf".into(),
            size: 2048,
        }],
    }
}

fn policy() -> ClaimPolicy {
    ClaimPolicy {
        deadline_days: 60,
        auto_approve_below: Some(usd("1000")),
        preapproval_above: Some(usd("5000")),
        max_document_bytes: 10 << 20,
    }
}

fn claim(amount: &str) -> Claim {
    draft(amount)
        .into_claim(partner(), 10 << 20, Utc::now())
        .unwrap()
}

fn pdf() -> Option<StoredObject> {
    Some(StoredObject {
        content_type: Some("application/pdf".into()),
        size: 2048,
    })
}

fn codes(found: Vec<Rejection>) -> Vec<RejectionCode> {
    found.into_iter().map(|r| r.code).collect()
}

#[test]
fn a_good_claim_passes_and_is_routed_by_amount() {
    let f = fund();
    let small = claim("500");
    assert!(check_claim(&small, &f, None, &[pdf()], &policy(), day("2026-03-10")).is_empty());
    assert_eq!(routing(&small, &policy()), ClaimStatus::Approved);
    assert_eq!(routing(&claim("1000"), &policy()), ClaimStatus::NeedsReview);
}

#[test]
fn every_rejection_reason_is_found_and_explained() {
    use RejectionCode::*;
    let f = fund();
    let p = policy();
    let c = claim("500");
    assert_eq!(
        codes(check_claim(&c, &f, None, &[None], &p, day("2026-03-10"))),
        [DocumentMissing]
    );
    let big = Some(StoredObject {
        content_type: Some("application/pdf".into()),
        size: 11 << 20,
    });
    assert_eq!(
        codes(check_claim(&c, &f, None, &[big], &p, day("2026-03-10"))),
        [DocumentInvalid]
    );
    let wrong = Some(StoredObject {
        content_type: Some("application/zip".into()),
        size: 10,
    });
    let found = check_claim(&c, &f, None, &[wrong], &p, day("2026-03-10"));
    assert_eq!(
        found[0].detail,
        "invoice.pdf was uploaded as \"application/zip\", declared application/pdf"
    );
    let late = check_claim(&c, &f, None, &[pdf()], &p, day("2026-05-02"));
    assert_eq!(codes(late.clone()), [PastDeadline]);
    assert!(
        late[0].detail.contains("after the deadline 2026-05-01"),
        "{late:?}"
    );

    let mut outside = claim("500");
    outside.activity_ends_on = day("2026-07-02");
    assert_eq!(
        codes(check_claim(
            &outside,
            &f,
            None,
            &[pdf()],
            &p,
            day("2026-07-05")
        )),
        [OutsideFundPeriod]
    );
    let mut expired = f.clone();
    expired.expires_on = day("2026-03-05");
    assert_eq!(
        codes(check_claim(
            &c,
            &expired,
            None,
            &[pdf()],
            &p,
            day("2026-03-10")
        )),
        [FundExpired]
    );
    let mut euros = claim("500");
    euros.amount = Money::parse("500", "EUR").unwrap();
    assert_eq!(
        codes(check_claim(
            &euros,
            &f,
            None,
            &[pdf()],
            &p,
            day("2026-03-10")
        ))[0],
        CurrencyMismatch
    );
}

#[test]
fn large_claims_need_an_approved_request_covering_them() {
    let f = fund();
    let big = claim("6000");
    let found = check_claim(&big, &f, None, &[pdf()], &policy(), day("2026-03-10"));
    assert_eq!(codes(found), [RejectionCode::PreApprovalRequired]);
    let mut request = MdfRequestDraft {
        fund_id: f.id.clone(),
        activity_type: "event".into(),
        starts_on: day("2026-03-01"),
        ends_on: day("2026-03-02"),
        cost: usd("9000"),
        requested: usd("6500"),
        expected_outcome: "40 qualified leads".into(),
    }
    .into_request(partner(), Utc::now())
    .unwrap();
    let pending = check_claim(
        &big,
        &f,
        Some(&request),
        &[pdf()],
        &policy(),
        day("2026-03-10"),
    );
    assert_eq!(codes(pending), [RejectionCode::PreApprovalRequired]);
    request.status = MdfStatus::Approved;
    assert!(
        check_claim(
            &big,
            &f,
            Some(&request),
            &[pdf()],
            &policy(),
            day("2026-03-10")
        )
        .is_empty()
    );
    request.requested = usd("5500");
    let short = check_claim(
        &big,
        &f,
        Some(&request),
        &[pdf()],
        &policy(),
        day("2026-03-10"),
    );
    assert_eq!(codes(short), [RejectionCode::PreApprovalRequired]);
}

#[test]
fn bad_drafts_name_every_fault() {
    let mut bad = draft("-5");
    bad.activity_ends_on = day("2026-02-01");
    bad.invoice_number = " ".into();
    bad.documents.push(DocumentDraft {
        file_name: "../x.exe".into(),
        content_type: "application/x-msdownload".into(),
        size: 0,
    });
    let errors = bad.into_claim(partner(), 10 << 20, Utc::now()).unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "invoice_number",
            "activity_ends_on",
            "amount",
            "documents[1].file_name",
            "documents[1].content_type",
            "documents[1].size"
        ]
    );
    assert!(errors.0[1].message.contains("reversed"));
    let mut oversized = draft("5");
    oversized.documents[0].size = (10 << 20) + 1;
    assert!(
        oversized
            .into_claim(partner(), 10 << 20, Utc::now())
            .is_err()
    );
    let mut cents = draft("5.001");
    cents.documents.clear();
    let errors = cents
        .into_claim(partner(), 10 << 20, Utc::now())
        .unwrap_err();
    let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["amount", "documents"]);
}

#[test]
fn funds_and_requests_are_validated() {
    let bad = FundRequest {
        partner_id: partner(),
        name: "".into(),
        amount: usd("0"),
        starts_on: day("2026-06-30"),
        ends_on: day("2026-01-01"),
        expires_on: day("2025-12-31"),
    }
    .into_fund()
    .unwrap_err();
    let fields: Vec<_> = bad.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "amount", "ends_on", "expires_on"]);
    let f = fund();
    assert_eq!(
        (f.available, f.reserved, f.kind),
        (Decimal::from(10000), Decimal::ZERO, FundKind::Mdf)
    );

    let request = MdfRequestDraft {
        fund_id: f.id,
        activity_type: "webinar".into(),
        starts_on: day("2026-03-01"),
        ends_on: day("2026-03-01"),
        cost: usd("100"),
        requested: usd("150"),
        expected_outcome: "leads".into(),
    }
    .into_request(partner(), Utc::now())
    .unwrap_err();
    assert_eq!(request.0[0].message, "must not exceed the cost");
}

#[test]
fn duplicates_are_the_same_partner_activity_amount_and_invoice() {
    let a = claim("500.00");
    let mut b = claim("500");
    b.invoice_number = " inv-9 ".into();
    b.activity_type = "EVENT".into();
    assert_eq!(a.duplicate_key(), b.duplicate_key());
    b.amount = usd("500.01");
    assert_ne!(a.duplicate_key(), b.duplicate_key());
}

#[test]
fn co_op_fund_ids_are_derived_and_valid() {
    let id = FundId::derived("ptn_x/prg_y/v1/2026-Q2");
    assert_eq!(id, FundId::derived("ptn_x/prg_y/v1/2026-Q2"));
    assert_ne!(id, FundId::derived("ptn_x/prg_y/v1/2026-Q3"));
    assert_eq!(id.as_str().parse::<FundId>().unwrap(), id);
}
