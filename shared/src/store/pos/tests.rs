//! The POS file listing against moto: paging, and cursors of other listings refused.

use super::*;
use crate::domain::pos::FileKind;
use crate::testing;

async fn received(store: &DynamoStore, distributor: &PartnerId, name: &str) {
    let key = format!("{distributor}/pos/{name}");
    let file = PosFile::received(
        "bucket",
        &key,
        "v1",
        distributor.clone(),
        FileKind::Pos,
        name,
        Utc::now(),
    );
    store.create_file(&file).await.unwrap();
}

/// Every page of a listing, following its `next_cursor`.
async fn every_page(store: &DynamoStore, distributor: Option<&PartnerId>) -> Vec<FileId> {
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_files(distributor, 1, cursor.as_deref())
            .await
            .unwrap();
        seen.extend(page.files.into_iter().map(|f| f.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return seen,
        }
    }
}

/// A cursor pages only the listing that issued it: one of another distributor, of the staff
/// listing or made by hand is `InvalidCursor` (a 400), never a start key DynamoDB refuses.
#[tokio::test]
async fn a_cursor_pages_only_the_listing_that_issued_it() {
    let store = testing::table().await;
    let distributor = PartnerId::generate();
    let other = PartnerId::generate();
    for name in ["a.csv", "b.csv", "c.csv"] {
        received(&store, &distributor, name).await;
    }
    received(&store, &other, "d.csv").await;
    assert_eq!(every_page(&store, Some(&distributor)).await.len(), 3);
    assert_eq!(every_page(&store, None).await.len(), 4);
    let first_cursor = async |scope: Option<&PartnerId>| {
        let page = store.list_files(scope, 1, None).await.unwrap();
        page.next_cursor.unwrap()
    };
    let own = first_cursor(Some(&distributor)).await;
    let staff = first_cursor(None).await;
    let refused = [
        (Some(&other), own.clone()),
        (None, own.clone()),
        (Some(&distributor), staff.clone()),
        (Some(&distributor), hex::encode(r#"{"pk":"x"}"#)),
        (None, "not hex".into()),
    ];
    let mut taken = Vec::new();
    for (scope, cursor) in refused {
        let answer = store.list_files(scope, 1, Some(&cursor)).await;
        if !matches!(answer, Err(StoreError::InvalidCursor)) {
            let answer = answer.map(|page| page.files.len());
            taken.push(format!("{scope:?} with {cursor:.40}: {answer:.160?}"));
        }
    }
    assert!(taken.is_empty(), "{taken:#?}");
}
