//! Group commit: what the owner's batch makes durable, and when.

use super::*;

fn count(store: &Store) -> usize {
    store
        .blocking(|c| Ok(meta::get(c, "k")?.map_or(0, |v| v.len())))
        .unwrap()
}

#[tokio::test]
async fn a_batch_is_one_commit_and_nothing_is_durable_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let store = Store::open(&path).unwrap();
    let owner = store.batching();
    owner.set_batching(true);
    let before = store.commits();
    for i in 1..=5usize {
        owner
            .write(move |tx| meta::set(tx, "k", &vec![0; i]))
            .await
            .unwrap();
    }
    assert!(owner.uncommitted());
    assert_eq!(store.commits(), before, "no commit inside the batch");
    // The owner reads its own writes.
    assert_eq!(
        owner.call(|c| meta::get(c, "k")).await.unwrap(),
        Some(vec![0; 5])
    );
    owner.commit().await.unwrap();
    assert!(!owner.uncommitted());
    assert_eq!(store.commits(), before + 1);

    // Written in a batch, never committed: gone after the process (here the store) is gone.
    owner.write(|tx| meta::set(tx, "k", &[1; 9])).await.unwrap();
    drop(owner);
    drop(store);
    let reopened = Store::open(&path).unwrap();
    assert_eq!(count(&reopened), 5);
}

#[tokio::test]
async fn another_handle_never_sees_what_is_not_durable() {
    let store = Store::open_in_memory().unwrap();
    let owner = store.batching();
    owner.set_batching(true);
    owner.write(|tx| meta::set(tx, "k", &[0; 3])).await.unwrap();
    let before = store.commits();
    // A reader commits the batch first, so what it sees is durable.
    assert_eq!(
        store.call(|c| meta::get(c, "k")).await.unwrap(),
        Some(vec![0; 3])
    );
    assert_eq!(store.commits(), before + 1);
    assert!(!owner.uncommitted());
    // A writer commits the batch with its own write.
    owner.write(|tx| meta::set(tx, "a", b"x")).await.unwrap();
    store.write(|tx| meta::set(tx, "b", b"y")).await.unwrap();
    assert!(!owner.uncommitted());
    assert_eq!(store.commits(), before + 2);
    // Nothing was lost on the way.
    assert_eq!(owner.lost_batches(), 0);
    owner.commit().await.unwrap();
    assert_eq!(store.commits(), before + 2, "an empty commit is no commit");
}

#[tokio::test]
async fn a_failed_write_in_a_batch_undoes_only_itself() {
    let store = Store::open_in_memory().unwrap();
    let owner = store.batching();
    owner.set_batching(true);
    owner.write(|tx| meta::set(tx, "kept", b"1")).await.unwrap();
    let r: Result<(), _> = owner
        .write(|tx| {
            meta::set(tx, "half", b"done")?;
            Err(StoreError::Corrupt("abort".into()))
        })
        .await;
    assert!(r.is_err());
    owner.commit().await.unwrap();
    assert_eq!(owner.lost_batches(), 0);
    let (kept, half) = store
        .call(|c| Ok((meta::get(c, "kept")?, meta::get(c, "half")?)))
        .await
        .unwrap();
    assert_eq!(kept, Some(b"1".to_vec()));
    assert_eq!(half, None);
}

#[tokio::test]
async fn without_batching_the_owner_commits_each_write() {
    let store = Store::open_in_memory().unwrap();
    let owner = store.batching();
    let before = store.commits();
    owner.write(|tx| meta::set(tx, "a", b"1")).await.unwrap();
    owner.write(|tx| meta::set(tx, "b", b"2")).await.unwrap();
    assert!(!owner.uncommitted());
    assert_eq!(store.commits(), before + 2);
    // A failed write outside a batch leaves no transaction open behind it.
    let r: Result<(), _> = store
        .write(|_| Err(StoreError::Corrupt("abort".into())))
        .await;
    assert!(r.is_err());
    assert!(!store.uncommitted());
    store.write(|tx| meta::set(tx, "c", b"3")).await.unwrap();
    assert_eq!(store.commits(), before + 3);
}

#[tokio::test]
async fn settled_waits_for_the_owners_commit() {
    let store = Store::open_in_memory().unwrap();
    let owner = store.batching();
    owner.set_batching(true);
    // Nothing open: settled at once.
    tokio::time::timeout(std::time::Duration::from_secs(5), store.settled())
        .await
        .unwrap();
    owner.write(|tx| meta::set(tx, "k", b"v")).await.unwrap();
    let waiting = tokio::spawn({
        let store = store.clone();
        async move { store.settled().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "the batch is still open");
    let before = store.commits();
    owner.commit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.commits(),
        before + 1,
        "the waiter did not commit it itself"
    );
}
