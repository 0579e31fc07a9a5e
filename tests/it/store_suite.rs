//! One storage suite, run unchanged against SQLite (default) and PostgreSQL
//! (`TEST_DATABASE_URL`), each test on a fresh database.

use crate::helpers::TestDb;
use mcp_authd::oauth::client::ClientSource;
use mcp_authd::oauth::client::{AuthMethod, ClientSettings, GrantType};
use mcp_authd::store::{
    AuthorizationCode, ClientUpdate, CodeRedemption, Grant, NewAuthorizationCode, NewClient,
    NewRefreshToken, NewSigningKey, Profile, Store, StoreError, StoredSigningKey, UpstreamTokens,
    User,
};
use mcp_authd::tokens::opaque;
use std::sync::Arc;
use tokio::sync::Barrier;

const NOW: i64 = 1_800_000_000;

fn settings() -> ClientSettings {
    ClientSettings {
        name: "Inspector".into(),
        redirect_uris: vec!["http://localhost:6274/oauth/callback".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scope: Some("read".into()),
        auth_method: AuthMethod::None,
    }
}

/// A public client registered by `source`, with the common settings.
fn new_client(id: &str, source: ClientSource) -> NewClient {
    NewClient {
        id: id.into(),
        settings: settings(),
        source,
        secret_hash: None,
        resource_server: false,
        resources: Vec::new(),
        keys: None,
        metadata: serde_json::json!({"software_id": "inspector"}),
        registration_token_hash: None,
    }
}

async fn client(store: &Store, id: &str) {
    let new = new_client(id, ClientSource::Cli);
    store.create_client(new, NOW).await.unwrap();
}

fn code(client_id: &str, user_id: &str, secret: &str) -> NewAuthorizationCode {
    NewAuthorizationCode {
        code_hash: opaque::hash(secret),
        client_id: client_id.into(),
        user_id: user_id.into(),
        grant_id: None,
        redirect_uri: "http://localhost:6274/oauth/callback".into(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        resource: "https://mcp.example.com/mcp".into(),
        scope: "read".into(),
        auth_time: NOW,
        nonce: Some("n-0S6_WzA2Mj".into()),
        expires_at: NOW + 60,
    }
}

/// Client `c1`, person alice, and her grant of `read` on one MCP server to it.
async fn alice_granted_c1(store: &Store) -> (User, Grant) {
    client(store, "c1").await;
    let alice = store.create_user("alice", "h", NOW).await.unwrap();
    let grant = store
        .upsert_grant(
            &alice.id,
            "c1",
            "https://mcp.example.com/mcp",
            &["read".into()],
            NOW,
        )
        .await
        .unwrap();
    (alice, grant)
}

fn refresh(client_id: &str, user_id: &str, secret: &str, family: &str) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: opaque::hash(secret),
        family_id: family.into(),
        parent_hash: None,
        grant_id: None,
        client_id: client_id.into(),
        user_id: Some(user_id.into()),
        resource: "https://mcp.example.com/mcp".into(),
        scope: "read".into(),
        auth_time: NOW,
        access_jti: opaque::new_id(),
        access_expires_at: NOW + 3_600,
        issued_at: NOW,
        expires_at: NOW + 86_400,
        family_expires_at: NOW + 7 * 86_400,
    }
}

#[tokio::test]
async fn users_are_created_found_changed_and_deleted() {
    let db = TestDb::new().await;
    let store = db.store().await;
    assert!(!store.any_user().await.unwrap(), "nobody yet");
    let alice = store.create_user("alice", "hash-1", NOW).await.unwrap();
    store.create_user("bob", "hash-2", NOW).await.unwrap();
    assert!(store.any_user().await.unwrap());

    let found = store.find_user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(found.id, alice.id);
    assert_eq!(
        store.find_user(&alice.id).await.unwrap().unwrap().username,
        "alice"
    );
    let names: Vec<_> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    store
        .set_user_password("alice", "hash-3", NOW + 1)
        .await
        .unwrap();
    store
        .set_user_disabled("alice", true, NOW + 2)
        .await
        .unwrap();
    let profile = Profile {
        display_name: Some("Alice Liddell".into()),
        email: Some("alice@example.com".into()),
        email_verified: true,
    };
    store
        .set_user_profile("alice", &profile, NOW + 3)
        .await
        .unwrap();
    let changed = store.find_user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(changed.password_hash, "hash-3");
    assert!(changed.disabled);
    assert_eq!(changed.display_name, profile.display_name);
    assert_eq!(changed.email, profile.email);
    assert!(changed.email_verified);
    assert!(matches!(
        store.set_user_profile("nobody", &profile, NOW).await,
        Err(StoreError::NotFound(_))
    ));

    store.delete_user("alice", NOW).await.unwrap();
    assert!(
        store
            .find_user_by_username("alice")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.delete_user("alice", NOW).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_user_password("nobody", "h", NOW).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_new_password_ends_every_session_of_that_person_only() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let alice = store.create_user("alice", "hash-1", NOW).await.unwrap();
    let bob = store.create_user("bob", "hash-2", NOW).await.unwrap();
    store
        .create_session("s-alice", &alice.id, None, NOW, NOW + 3_600)
        .await
        .unwrap();
    store
        .create_session("s-bob", &bob.id, None, NOW, NOW + 3_600)
        .await
        .unwrap();
    store
        .set_user_password("alice", "hash-3", NOW + 1)
        .await
        .unwrap();
    assert!(
        store
            .find_session("s-alice", NOW + 2)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_session("s-bob", NOW + 2)
            .await
            .unwrap()
            .is_some()
    );
}

/// An upgraded hash replaces the one it was made beside, keeps the person's sessions, and
/// never overwrites a password set in between.
#[tokio::test]
async fn an_upgraded_password_hash_replaces_only_the_hash_it_was_made_beside() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let alice = store.create_user("alice", "old-params", NOW).await.unwrap();
    store
        .create_session("s-alice", &alice.id, None, NOW, NOW + 3_600)
        .await
        .unwrap();
    let upgraded = store.upgrade_password_hash(&alice.id, "old-params", "new-params");
    assert!(upgraded.await.unwrap());
    let stored = store.find_user(&alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "new-params");
    let session = store.find_session("s-alice", NOW + 1).await.unwrap();
    assert!(session.is_some(), "the same password keeps its sessions");
    // A new password was set after the old hash was read: the upgrade must not undo it.
    store
        .set_user_password("alice", "changed", NOW + 2)
        .await
        .unwrap();
    let late = store.upgrade_password_hash(&alice.id, "new-params", "stale-upgrade");
    assert!(!late.await.unwrap());
    let stored = store.find_user(&alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "changed");
}

#[tokio::test]
async fn a_duplicate_username_is_a_conflict_and_writes_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let first = store.create_user("alice", "hash-1", NOW).await.unwrap();
    let second = store.create_user("alice", "hash-2", NOW).await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].id, first.id);
    assert_eq!(users[0].password_hash, "hash-1");
}

#[tokio::test]
async fn clients_round_trip_every_setting() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let stored = store.find_client("c1").await.unwrap().unwrap();
    assert_eq!(stored.settings, settings());
    assert_eq!(stored.source, ClientSource::Cli);
    assert_eq!(stored.metadata["software_id"], "inspector");
    assert!(store.find_client("nope").await.unwrap().is_none());

    let mut changed = settings();
    changed.name = "Renamed".into();
    changed.auth_method = AuthMethod::ClientSecretPost;
    changed.grant_types.push(GrantType::ClientCredentials);
    let update = ClientUpdate {
        settings: Some(changed.clone()),
        resource_server: Some(true),
        resources: None,
        keys: None,
        secret_hash: Some(Some("secret-hash".into())),
        metadata: None,
    };
    let updated = store.update_client("c1", update, NOW + 5).await.unwrap();
    assert_eq!(updated.settings, changed);
    assert!(updated.resource_server);
    assert_eq!(updated.secret_hash.as_deref(), Some("secret-hash"));
    assert_eq!(updated.updated_at, NOW + 5);
    assert_eq!(
        updated.metadata["software_id"], "inspector",
        "metadata kept"
    );

    assert!(matches!(
        store.create_client_again("c1").await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
    store.delete_client("c1", NOW).await.unwrap();
    assert!(store.find_client("c1").await.unwrap().is_none());
    assert!(matches!(
        store
            .update_client("c1", ClientUpdate::default(), NOW)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// Creating a client whose id exists, for the conflict check above.
trait CreateAgain {
    async fn create_client_again(&self, id: &str) -> Result<(), StoreError>;
}

impl CreateAgain for Store {
    async fn create_client_again(&self, id: &str) -> Result<(), StoreError> {
        let new = new_client(id, ClientSource::Dynamic);
        self.create_client(new, NOW).await.map(|_| ())
    }
}

/// The token that rotates `parent` at `at`.
fn successor(
    client_id: &str,
    user_id: &str,
    secret: &str,
    parent: &str,
    at: i64,
) -> NewRefreshToken {
    let mut next = refresh(client_id, user_id, secret, "fam");
    next.parent_hash = Some(opaque::hash(parent));
    next.issued_at = at;
    next
}

/// The stored code for this secret.
async fn stored_code(store: &Store, secret: &str) -> AuthorizationCode {
    store
        .find_code(&opaque::hash(secret))
        .await
        .unwrap()
        .expect("code stored")
}

/// Redeems a code for an access token id only.
async fn redeem(store: &Store, code: &AuthorizationCode, jti: &str, at: i64) -> bool {
    let redemption = CodeRedemption {
        access_jti: jti.into(),
        refresh_token: None,
    };
    store.redeem_code(code, &redemption, at).await.unwrap()
}

#[tokio::test]
async fn a_code_is_consumed_once_and_not_after_expiry() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    store
        .insert_code(&code("c1", &user.id, "code-1"), NOW)
        .await
        .unwrap();
    store
        .insert_code(&code("c1", &user.id, "code-2"), NOW)
        .await
        .unwrap();

    let first = stored_code(&store, "code-1").await;
    assert!(first.user_active);
    assert_eq!(
        first.nonce.as_deref(),
        Some("n-0S6_WzA2Mj"),
        "the nonce is kept"
    );
    assert!(redeem(&store, &first, "jti-1", NOW + 1).await);
    assert!(!redeem(&store, &first, "jti-2", NOW + 2).await);
    let replayed = stored_code(&store, "code-1").await;
    assert_eq!(
        replayed.consumed_at,
        Some(NOW + 1),
        "a replay is recognisable"
    );
    assert_eq!(
        replayed.access_jti.as_deref(),
        Some("jti-1"),
        "the winner's"
    );
    assert_eq!(replayed.family_id, None);

    let second = stored_code(&store, "code-2").await;
    assert!(!redeem(&store, &second, "jti-3", NOW + 60).await, "expired");
    let unknown = AuthorizationCode {
        code_hash: opaque::hash("unknown"),
        ..second
    };
    assert!(!redeem(&store, &unknown, "jti-4", NOW).await);
}

#[tokio::test]
async fn redeeming_a_code_stores_its_refresh_family_and_touches_its_grant_at_once() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (user, grant) = alice_granted_c1(&store).await;
    let mut new = code("c1", &user.id, "code-1");
    new.grant_id = Some(grant.id.clone());
    store.insert_code(&new, NOW).await.unwrap();
    let stored = stored_code(&store, "code-1").await;
    let mut first = refresh("c1", &user.id, "rt-1", "fam-1");
    first.grant_id = Some(grant.id.clone());
    let redemption = CodeRedemption {
        access_jti: "jti-1".into(),
        refresh_token: Some(first.clone()),
    };
    assert!(
        store
            .redeem_code(&stored, &redemption, NOW + 5)
            .await
            .unwrap()
    );
    let redeemed = stored_code(&store, "code-1").await;
    assert_eq!(redeemed.family_id.as_deref(), Some("fam-1"));
    assert_eq!(redeemed.access_jti.as_deref(), Some("jti-1"));
    let token = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .expect("the refresh token is stored with the redemption");
    assert!(token.user_active);
    let touched = store.find_grant_by_id(&grant.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(NOW + 5));

    // A losing redemption stores nothing.
    let mut other = refresh("c1", &user.id, "rt-2", "fam-2");
    other.grant_id = Some(grant.id.clone());
    let again = CodeRedemption {
        access_jti: "jti-2".into(),
        refresh_token: Some(other.clone()),
    };
    assert!(!store.redeem_code(&stored, &again, NOW + 6).await.unwrap());
    assert!(
        store
            .find_refresh_token(&other.token_hash)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn codes_and_refresh_tokens_of_a_disabled_person_read_as_inactive() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    store
        .insert_code(&code("c1", &user.id, "code-1"), NOW)
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh("c1", &user.id, "rt", "fam"))
        .await
        .unwrap();
    let mut machine = refresh("c1", &user.id, "rt-machine", "fam-machine");
    machine.user_id = None;
    store.insert_refresh_token(&machine).await.unwrap();
    store
        .set_user_disabled("alice", true, NOW + 1)
        .await
        .unwrap();
    assert!(!stored_code(&store, "code-1").await.user_active);
    let token = store.find_refresh_token(&opaque::hash("rt")).await.unwrap();
    assert!(!token.unwrap().user_active);
    let without_person = store.find_refresh_token(&machine.token_hash).await.unwrap();
    assert!(without_person.unwrap().user_active, "no person to disable");
    store
        .set_user_disabled("alice", false, NOW + 2)
        .await
        .unwrap();
    assert!(stored_code(&store, "code-1").await.user_active);
}

/// Many codes redeemed at the same moment (which SQLite applies as batches), two racing
/// redemptions each: every code is consumed once, by a redemption whose refresh family is
/// stored and whose grant is touched, the loser's family is not; an expired code among them
/// is not consumed and fails none of the others.
#[tokio::test]
async fn many_codes_redeemed_at_once_are_each_consumed_exactly_once() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (user, grant) = alice_granted_c1(&store).await;
    let codes = 40;
    for c in 0..codes {
        let mut new = code("c1", &user.id, &format!("code-{c}"));
        new.grant_id = Some(grant.id.clone());
        if c == 5 {
            new.expires_at = NOW;
        }
        store.insert_code(&new, NOW).await.unwrap();
    }
    let barrier = Arc::new(Barrier::new(codes * 2));
    let mut handles = Vec::new();
    for i in 0..codes * 2 {
        let (store, barrier) = (store.clone(), barrier.clone());
        let stored = stored_code(&store, &format!("code-{}", i / 2)).await;
        let mut family = refresh("c1", &user.id, &format!("rt-{i}"), &format!("fam-{i}"));
        family.grant_id = Some(grant.id.clone());
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            let redemption = CodeRedemption {
                access_jti: format!("jti-{i}"),
                refresh_token: Some(family),
            };
            store.redeem_code(&stored, &redemption, NOW + 1).await
        }));
    }
    let mut won = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        if handle.await.unwrap().expect("no database error") {
            won.push(i);
        }
    }
    let winners: Vec<usize> = won.iter().map(|i| i / 2).collect();
    let expected: Vec<usize> = (0..codes).filter(|c| *c != 5).collect();
    assert_eq!(
        winners, expected,
        "each live code once, the expired one never"
    );
    for i in 0..codes * 2 {
        let stored = store
            .find_refresh_token(&opaque::hash(&format!("rt-{i}")))
            .await
            .unwrap();
        assert_eq!(stored.is_some(), won.contains(&i), "redemption {i}");
    }
    for &i in &won {
        let redeemed = stored_code(&store, &format!("code-{}", i / 2)).await;
        assert_eq!(
            redeemed.access_jti,
            Some(format!("jti-{i}")),
            "the winner's"
        );
        assert_eq!(redeemed.family_id, Some(format!("fam-{i}")));
    }
    let touched = store.find_grant_by_id(&grant.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(NOW + 1));
}

#[tokio::test]
async fn concurrent_consumption_of_one_code_has_exactly_one_winner() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    for round in 0..5 {
        let secret = format!("code-{round}");
        store
            .insert_code(&code("c1", &user.id, &secret), NOW)
            .await
            .unwrap();
        let code = stored_code(&store, &secret).await;
        let tasks = 24;
        let barrier = Arc::new(Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (store, barrier, code) = (store.clone(), barrier.clone(), code.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let redemption = CodeRedemption {
                        access_jti: opaque::new_id(),
                        refresh_token: None,
                    };
                    store.redeem_code(&code, &redemption, NOW + 1).await
                })
            })
            .collect();
        let mut winners = 0;
        for handle in handles {
            if handle
                .await
                .unwrap()
                .expect("no database error under contention")
            {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn concurrent_rotation_of_one_refresh_token_has_exactly_one_winner() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    for round in 0..5 {
        let secret = format!("rt-{round}");
        let family = format!("family-{round}");
        store
            .insert_refresh_token(&refresh("c1", &user.id, &secret, &family))
            .await
            .unwrap();
        let tasks = 24;
        let barrier = Arc::new(Barrier::new(tasks));
        let handles: Vec<_> = (0..tasks)
            .map(|i| {
                let (store, barrier) = (store.clone(), barrier.clone());
                let next = format!("rt-{round}-next-{i}");
                let mut successor = successor("c1", &user.id, &next, &secret, NOW + 1);
                successor.family_id = family.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.rotate_refresh_token(&successor).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for (i, handle) in handles.into_iter().enumerate() {
            if handle
                .await
                .unwrap()
                .expect("no database error under contention")
            {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        let rotated = store
            .find_refresh_token(&opaque::hash(&secret))
            .await
            .unwrap()
            .unwrap();
        let winner_hash = opaque::hash(&format!("rt-{round}-next-{}", winners[0]));
        assert_eq!(
            rotated.successor_hash.as_deref(),
            Some(winner_hash.as_str())
        );
        assert_eq!(rotated.rotated_at, Some(NOW + 1));
        let successor = store
            .find_refresh_token(&winner_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(successor.family_id, family);
        for loser in (0..tasks).filter(|i| *i != winners[0]) {
            let hash = opaque::hash(&format!("rt-{round}-next-{loser}"));
            assert!(
                store.find_refresh_token(&hash).await.unwrap().is_none(),
                "no second successor"
            );
        }
    }
}

/// Many families rotating at the same moment (which SQLite applies as batches): every live
/// parent rotates exactly once, even with two successors racing for each, and a revoked
/// parent among them rotates not at all without failing the others.
#[tokio::test]
async fn many_families_rotating_at_once_each_rotate_exactly_once() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    let families = 60;
    for f in 0..families {
        let (secret, family) = (format!("rt-{f}"), format!("fam-{f}"));
        store
            .insert_refresh_token(&refresh("c1", &user.id, &secret, &family))
            .await
            .unwrap();
    }
    store.revoke_refresh_family("fam-7", NOW).await.unwrap();
    let barrier = Arc::new(Barrier::new(families * 2));
    let handles: Vec<_> = (0..families * 2)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let f = i / 2;
            let mut next = successor(
                "c1",
                &user.id,
                &format!("rt-{f}-{i}"),
                &format!("rt-{f}"),
                NOW + 1,
            );
            next.family_id = format!("fam-{f}");
            tokio::spawn(async move {
                barrier.wait().await;
                store.rotate_refresh_token(&next).await
            })
        })
        .collect();
    let mut wins = vec![0; families];
    for (i, handle) in handles.into_iter().enumerate() {
        if handle.await.unwrap().expect("no database error") {
            wins[i / 2] += 1;
        }
    }
    for (f, won) in wins.iter().enumerate() {
        let parent = store
            .find_refresh_token(&opaque::hash(&format!("rt-{f}")))
            .await
            .unwrap()
            .unwrap();
        if f == 7 {
            assert_eq!(*won, 0, "a revoked family does not rotate");
            assert!(parent.rotated_at.is_none());
            continue;
        }
        assert_eq!(*won, 1, "family {f} rotated once");
        let successor = parent
            .successor_hash
            .expect("the parent names its successor");
        let stored = store.find_refresh_token(&successor).await.unwrap().unwrap();
        assert_eq!(stored.family_id, format!("fam-{f}"));
        assert_eq!(
            stored.parent_hash.as_deref(),
            Some(parent.token_hash.as_str())
        );
    }
}

#[tokio::test]
async fn revoking_a_family_stops_rotation() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    store
        .insert_refresh_token(&refresh("c1", &user.id, "rt", "fam"))
        .await
        .unwrap();
    assert_eq!(
        store.revoke_refresh_family("fam", NOW + 1).await.unwrap(),
        1
    );
    let next = successor("c1", &user.id, "rt-next", "rt", NOW + 2);
    assert!(!store.rotate_refresh_token(&next).await.unwrap());
    assert!(
        store
            .find_refresh_token(&next.token_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_refresh_token(&opaque::hash("rt"))
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
}

#[tokio::test]
async fn revoking_a_family_while_it_rotates_revokes_the_successor_too() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    for round in 0..40 {
        let (secret, family) = (format!("rt-{round}"), format!("family-{round}"));
        store
            .insert_refresh_token(&refresh("c1", &user.id, &secret, &family))
            .await
            .unwrap();
        let mut next = successor("c1", &user.id, &format!("{secret}-next"), &secret, NOW + 1);
        next.family_id = family.clone();
        let barrier = Arc::new(Barrier::new(2));
        let rotation = tokio::spawn({
            let (store, barrier, next) = (store.clone(), barrier.clone(), next.clone());
            async move {
                barrier.wait().await;
                store.rotate_refresh_token(&next).await
            }
        });
        let revocation = tokio::spawn({
            let (store, barrier, family) = (store.clone(), barrier.clone(), family.clone());
            async move {
                barrier.wait().await;
                store.revoke_refresh_family(&family, NOW + 1).await
            }
        });
        let rotated = rotation.await.unwrap().unwrap();
        revocation.await.unwrap().unwrap();
        // Whichever committed first, nothing of the family may stay alive.
        if let Some(stored) = store.find_refresh_token(&next.token_hash).await.unwrap() {
            assert!(
                rotated,
                "round {round}: a successor exists only if rotation won"
            );
            assert!(
                stored.revoked_at.is_some(),
                "round {round}: the successor escaped the family revocation"
            );
            assert!(
                store
                    .is_access_token_revoked(&next.access_jti)
                    .await
                    .unwrap(),
                "round {round}: the successor's access token escaped"
            );
        }
    }
}

#[tokio::test]
async fn an_expired_refresh_token_does_not_rotate() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    store
        .insert_refresh_token(&refresh("c1", &user.id, "rt", "fam"))
        .await
        .unwrap();
    let late = successor("c1", &user.id, "rt-next", "rt", NOW + 86_400);
    assert!(!store.rotate_refresh_token(&late).await.unwrap());
    let first = successor("c1", &user.id, "rt-next", "rt", NOW + 10);
    assert!(store.rotate_refresh_token(&first).await.unwrap(), "in time");
    let again = successor("c1", &user.id, "rt-other", "rt", NOW + 11);
    assert!(
        !store.rotate_refresh_token(&again).await.unwrap(),
        "rotated once"
    );
}

#[tokio::test]
async fn a_rotation_marks_its_parent_and_notes_the_grants_use() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    let scopes = ["read".to_owned()];
    let grant = store
        .upsert_grant(&user.id, "c1", "https://mcp.example.com/mcp", &scopes, NOW)
        .await
        .unwrap();
    let mut first = refresh("c1", &user.id, "rt", "fam");
    first.grant_id = Some(grant.id.clone());
    store.insert_refresh_token(&first).await.unwrap();
    let mut next = successor("c1", &user.id, "rt-next", "rt", NOW + 30);
    next.grant_id = Some(grant.id.clone());
    assert!(store.rotate_refresh_token(&next).await.unwrap());
    let parent = store
        .find_refresh_token(&first.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parent.rotated_at, Some(NOW + 30));
    assert_eq!(
        parent.successor_hash.as_deref(),
        Some(next.token_hash.as_str())
    );
    let stored = store
        .find_refresh_token(&next.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.parent_hash.as_deref(),
        Some(first.token_hash.as_str())
    );
    assert!(stored.rotated_at.is_none() && stored.revoked_at.is_none());
    let touched = store.find_grant_by_id(&grant.id).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(NOW + 30));
}

#[tokio::test]
async fn deleting_a_user_or_client_removes_what_hangs_off_it() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    store
        .insert_code(&code("c1", &user.id, "code"), NOW)
        .await
        .unwrap();
    store
        .insert_refresh_token(&refresh("c1", &user.id, "rt", "fam"))
        .await
        .unwrap();
    store.delete_user("alice", NOW).await.unwrap();
    assert!(
        store
            .find_code(&opaque::hash("code"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_refresh_token(&opaque::hash("rt"))
            .await
            .unwrap()
            .is_none()
    );

    let bob = store.create_user("bob", "h", NOW).await.unwrap();
    store
        .insert_refresh_token(&refresh("c1", &bob.id, "rt2", "fam2"))
        .await
        .unwrap();
    store.delete_client("c1", NOW).await.unwrap();
    assert!(
        store
            .find_refresh_token(&opaque::hash("rt2"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store.migrate().await.unwrap();
    assert!(store.ping().await);
}

#[tokio::test]
async fn cimd_upserts_refresh_their_row_and_never_overwrite_another_source() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let url = "https://app.example.com/client.json";
    let new = |name: &str| NewClient {
        id: url.into(),
        settings: ClientSettings {
            name: name.into(),
            ..settings()
        },
        source: ClientSource::Cimd,
        secret_hash: None,
        resource_server: false,
        resources: Vec::new(),
        keys: None,
        metadata: serde_json::json!({"client_uri": "https://app.example.com"}),
        registration_token_hash: None,
    };
    let first = store.upsert_cimd_client(new("First"), NOW).await.unwrap();
    assert_eq!(first.source, ClientSource::Cimd);
    store.mark_client_used(url, NOW + 5).await.unwrap();
    let second = store
        .upsert_cimd_client(new("Second"), NOW + 10)
        .await
        .unwrap();
    assert_eq!(second.settings.name, "Second");
    assert_eq!((second.created_at, second.updated_at), (NOW, NOW + 10));
    assert_eq!(second.last_used_at, Some(NOW + 5));

    client(&store, "cli-client").await;
    let mut hijack = new("Hijack");
    hijack.id = "cli-client".into();
    assert!(matches!(
        store.upsert_cimd_client(hijack, NOW).await,
        Err(StoreError::Conflict(_))
    ));
    let kept = store.find_client("cli-client").await.unwrap().unwrap();
    assert_eq!(kept.source, ClientSource::Cli);
    assert_eq!(kept.settings.name, "Inspector");
}

#[tokio::test]
async fn only_never_used_dynamic_and_document_clients_are_deleted_as_unused() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "cli").await;
    store.create_client_again("dyn-unused").await.unwrap();
    store.create_client_again("dyn-used").await.unwrap();
    store.mark_client_used("dyn-used", NOW + 1).await.unwrap();
    for id in [
        "https://app.example/unused.json",
        "https://app.example/used.json",
    ] {
        let document = NewClient {
            id: id.into(),
            settings: settings(),
            source: ClientSource::Cimd,
            secret_hash: None,
            resource_server: false,
            metadata: serde_json::json!({}),
            registration_token_hash: None,
            resources: Vec::new(),
            keys: None,
        };
        store.upsert_cimd_client(document, NOW).await.unwrap();
    }
    store
        .mark_client_used("https://app.example/used.json", NOW + 1)
        .await
        .unwrap();
    assert_eq!(store.delete_unused_clients(NOW).await.unwrap(), 0);
    assert_eq!(store.delete_unused_clients(NOW + 1).await.unwrap(), 2);
    let left: Vec<String> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(left, ["cli", "dyn-used", "https://app.example/used.json"]);
    assert!(matches!(
        store.mark_client_used("gone", NOW).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn deleting_a_user_or_client_records_their_access_tokens_as_revoked() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let alice = store.create_user("alice", "h", NOW).await.unwrap();
    let bob = store.create_user("bob", "h", NOW).await.unwrap();
    let alices = refresh("c1", &alice.id, "rt-a", "fam-a");
    let bobs = refresh("c1", &bob.id, "rt-b", "fam-b");
    store.insert_refresh_token(&alices).await.unwrap();
    store.insert_refresh_token(&bobs).await.unwrap();
    store
        .insert_code(&code("c1", &alice.id, "code-a"), NOW)
        .await
        .unwrap();
    let stored = stored_code(&store, "code-a").await;
    assert!(redeem(&store, &stored, "code-jti", NOW).await);

    store.delete_user("alice", NOW + 1).await.unwrap();
    for jti in [alices.access_jti.as_str(), "code-jti"] {
        assert!(store.is_access_token_revoked(jti).await.unwrap(), "{jti}");
    }
    assert!(
        !store
            .is_access_token_revoked(&bobs.access_jti)
            .await
            .unwrap()
    );

    store.delete_client("c1", NOW + 2).await.unwrap();
    assert!(
        store
            .is_access_token_revoked(&bobs.access_jti)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn revoking_by_person_or_client_ends_their_families_and_access_tokens_only() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    client(&store, "c2").await;
    let alice = store.create_user("alice", "h", NOW).await.unwrap();
    let bob = store.create_user("bob", "h", NOW).await.unwrap();
    let a1 = refresh("c1", &alice.id, "a1", "fam-a1");
    let a2 = refresh("c2", &alice.id, "a2", "fam-a2");
    let b1 = refresh("c1", &bob.id, "b1", "fam-b1");
    let b2 = refresh("c2", &bob.id, "b2", "fam-b2");
    for token in [&a1, &a2, &b1, &b2] {
        store.insert_refresh_token(token).await.unwrap();
    }
    let revoked = |hash: &str| {
        let store = store.clone();
        let hash = opaque::hash(hash);
        async move {
            store
                .find_refresh_token(&hash)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        }
    };

    let counts = store.revoke_user_tokens(&alice.id, NOW + 1).await.unwrap();
    assert_eq!(counts.refresh_families, 2);
    assert_eq!(counts.access_tokens, 2);
    assert!(revoked("a1").await && revoked("a2").await);
    assert!(!revoked("b1").await && !revoked("b2").await);
    assert!(store.is_access_token_revoked(&a2.access_jti).await.unwrap());
    assert!(!store.is_access_token_revoked(&b1.access_jti).await.unwrap());
    // Nothing left to revoke: counted as nothing.
    let again = store.revoke_user_tokens(&alice.id, NOW + 2).await.unwrap();
    assert_eq!((again.refresh_families, again.access_tokens), (0, 0));

    let counts = store.revoke_client_tokens("c1", NOW + 3).await.unwrap();
    assert_eq!((counts.refresh_families, counts.access_tokens), (1, 1));
    assert!(revoked("b1").await && !revoked("b2").await);
    assert!(store.is_access_token_revoked(&b1.access_jti).await.unwrap());
    let c1 = store.find_client("c1").await.unwrap().unwrap();
    assert_eq!(c1.tokens_revoked_before, Some(NOW + 4));
    let c2 = store.find_client("c2").await.unwrap().unwrap();
    assert_eq!(c2.tokens_revoked_before, None);
}

#[tokio::test]
async fn revocations_are_read_since_a_time_and_swept_once_expired() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store
        .revoke_access_token("old", NOW + 10, NOW)
        .await
        .unwrap();
    store
        .revoke_access_token("new", NOW + 100, NOW + 5)
        .await
        .unwrap();
    // Recording the same id twice keeps the first record.
    store
        .revoke_access_token("new", NOW + 999, NOW + 6)
        .await
        .unwrap();
    let jtis = |rows: Vec<mcp_authd::store::RevokedAccessToken>| {
        rows.into_iter().map(|r| r.jti).collect::<Vec<_>>()
    };
    let all = store
        .revoked_access_tokens_since(i64::MIN, NOW, 10)
        .await
        .unwrap();
    assert_eq!(all[1].expires_at, NOW + 100);
    assert_eq!(jtis(all), ["old", "new"]);
    assert_eq!(
        jtis(
            store
                .revoked_access_tokens_since(NOW + 1, NOW, 10)
                .await
                .unwrap()
        ),
        ["new"]
    );
    assert_eq!(
        jtis(
            store
                .revoked_access_tokens_since(i64::MIN, NOW, 1)
                .await
                .unwrap()
        ),
        ["old"]
    );
    // Expired tokens are not read, and are swept.
    assert_eq!(
        jtis(
            store
                .revoked_access_tokens_since(i64::MIN, NOW + 10, 10)
                .await
                .unwrap()
        ),
        ["new"]
    );
    assert_eq!(
        store.sweep_revoked_access_tokens(NOW + 10).await.unwrap(),
        1
    );
    assert!(!store.is_access_token_revoked("old").await.unwrap());
    assert!(store.is_access_token_revoked("new").await.unwrap());
}

#[tokio::test]
async fn expired_pending_requests_and_sessions_are_swept_and_live_ones_kept() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    for (handle, expires_at) in [("gone", NOW + 600), ("kept", NOW + 601)] {
        store
            .insert_pending_request(handle, "browser", "c1", "{}", NOW, expires_at)
            .await
            .unwrap();
        store
            .create_session(handle, &user.id, None, NOW, expires_at)
            .await
            .unwrap();
    }
    store
        .consume_pending_request("gone", "browser", NOW + 1)
        .await
        .unwrap();
    assert_eq!(
        store
            .sweep_expired_pending_requests(NOW + 599)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.sweep_expired_sessions(NOW + 599).await.unwrap(), 0);
    assert_eq!(
        store
            .sweep_expired_pending_requests(NOW + 600)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.sweep_expired_sessions(NOW + 600).await.unwrap(), 1);
    let kept = store
        .find_pending_request("kept", "browser", NOW + 600)
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("{}"));
    assert!(
        store
            .find_session("kept", NOW + 600)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .sweep_expired_pending_requests(NOW + 600)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn expired_codes_are_swept_but_redeemed_ones_stay_while_their_access_token_may_live() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    for secret in ["unused", "redeemed"] {
        store
            .insert_code(&code("c1", &user.id, secret), NOW)
            .await
            .unwrap();
    }
    let redeemed = stored_code(&store, "redeemed").await;
    assert!(redeem(&store, &redeemed, "jti-1", NOW + 1).await);

    assert_eq!(store.sweep_expired_codes(NOW + 59).await.unwrap(), 0);
    assert_eq!(store.sweep_expired_codes(NOW + 60).await.unwrap(), 1);
    assert!(
        store
            .find_code(&opaque::hash("unused"))
            .await
            .unwrap()
            .is_none()
    );
    let horizon = 86_400;
    assert_eq!(
        store.sweep_expired_codes(NOW + horizon - 1).await.unwrap(),
        0
    );
    let counts = store
        .revoke_user_tokens(&user.id, NOW + horizon - 1)
        .await
        .unwrap();
    assert_eq!(
        counts.access_tokens, 1,
        "the kept code still reaches its token"
    );
    assert_eq!(store.sweep_expired_codes(NOW + horizon).await.unwrap(), 1);
    assert!(
        store
            .find_code(&opaque::hash("redeemed"))
            .await
            .unwrap()
            .is_none()
    );
}

/// A sweep with more dead families than one page of its scan and one delete: every dead
/// family goes, every live one between them stays.
#[tokio::test]
async fn a_sweep_of_thousands_of_dead_families_takes_them_all_and_spares_the_live() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    let (dead, live) = (2_100, 30);
    for i in 0..dead + live {
        let mut token = refresh("c1", &user.id, &format!("rt-{i}"), &format!("fam-{i:05}"));
        if i % 71 == 0 || i >= dead {
            token.family_expires_at = NOW + 30 * 86_400;
        } else {
            token.family_expires_at = NOW + 1;
            token.expires_at = NOW + 1;
        }
        store.insert_refresh_token(&token).await.unwrap();
    }
    let kept = (0..dead).filter(|i| i % 71 == 0).count() + live;
    let swept = store
        .sweep_dead_refresh_families(NOW + 2 * 86_400, NOW)
        .await
        .unwrap();
    assert_eq!(swept as usize, dead + live - kept);
    for i in (0..dead + live).step_by(7) {
        let found = store
            .find_refresh_token(&opaque::hash(&format!("rt-{i}")))
            .await
            .unwrap();
        assert_eq!(found.is_some(), i % 71 == 0 || i >= dead, "token {i}");
    }
}

#[tokio::test]
async fn refresh_families_are_swept_past_their_absolute_lifetime_or_a_revocation_retention() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    let user = store.create_user("alice", "h", NOW).await.unwrap();
    let day = 86_400;
    let family = |secret: &str, family: &str| refresh("c1", &user.id, secret, family);
    // Over at NOW + 1 day, its last access token long expired.
    let mut ended = family("ended", "ended");
    ended.expires_at = NOW + day;
    ended.family_expires_at = NOW + day;
    // Over at NOW + 1 day, but its access token lives until NOW + 3 days.
    let mut ended_token_alive = family("ended-alive", "ended-alive");
    ended_token_alive.expires_at = NOW + day;
    ended_token_alive.family_expires_at = NOW + day;
    ended_token_alive.access_expires_at = NOW + 3 * day;
    // Idle-expired at NOW + 1 day; revoked at NOW + 1.
    let idle = family("idle", "idle");
    let revoked = family("revoked", "revoked");
    for token in [&ended, &ended_token_alive, &idle, &revoked] {
        store.insert_refresh_token(token).await.unwrap();
    }
    store
        .revoke_refresh_family("revoked", NOW + 1)
        .await
        .unwrap();
    // Live: its first token rotated into one valid until NOW + 3 days.
    store
        .insert_refresh_token(&family("live", "fam"))
        .await
        .unwrap();
    let mut next = successor("c1", &user.id, "live-next", "live", NOW + day - 10);
    next.expires_at = NOW + 3 * day;
    assert!(store.rotate_refresh_token(&next).await.unwrap());

    let now = NOW + 2 * day;
    let within_retention = now - 3 * day;
    assert_eq!(
        store
            .sweep_dead_refresh_families(now, within_retention)
            .await
            .unwrap(),
        1,
        "only the family past its absolute lifetime"
    );
    let exists = |secret: &'static str| {
        let store = store.clone();
        async move {
            store
                .find_refresh_token(&opaque::hash(secret))
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(!exists("ended").await);
    assert!(exists("ended-alive").await && exists("idle").await && exists("revoked").await);

    let past_retention = NOW + day + 1;
    assert_eq!(
        store
            .sweep_dead_refresh_families(now, past_retention)
            .await
            .unwrap(),
        2,
        "the idle and the revoked family"
    );
    assert!(!exists("idle").await && !exists("revoked").await);
    assert!(exists("ended-alive").await, "its access token is alive");
    assert!(
        exists("live").await && exists("live-next").await,
        "a live family keeps its rotated tokens, so reuse is still detected"
    );
    assert_eq!(
        store
            .sweep_dead_refresh_families(NOW + 7 * day, past_retention)
            .await
            .unwrap(),
        3,
        "the family whose access token expired, and the live one at its absolute end"
    );
}

#[tokio::test]
async fn a_client_assertion_id_is_accepted_once_even_under_concurrency_until_swept() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "signer").await;
    client(&store, "other").await;
    let barrier = Arc::new(Barrier::new(8));
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .record_client_assertion("signer", "jti-1", NOW + 60)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut accepted = 0;
    for attempt in attempts {
        accepted += usize::from(attempt.await.unwrap());
    }
    assert_eq!(accepted, 1, "one of eight racing uses wins");
    assert!(
        store
            .record_client_assertion("other", "jti-1", NOW + 60)
            .await
            .unwrap(),
        "ids are per client"
    );
    store
        .record_client_assertion("signer", "jti-2", NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        store
            .sweep_expired_client_assertions(NOW + 10)
            .await
            .unwrap(),
        1
    );
    assert!(
        !store
            .record_client_assertion("signer", "jti-1", NOW + 60)
            .await
            .unwrap(),
        "an id is remembered until its assertion expires"
    );
}

#[tokio::test]
async fn a_session_is_found_until_it_expires_or_is_deleted_or_its_person_disabled() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let alice = store.create_user("alice", "hash-1", NOW).await.unwrap();
    store
        .create_session("s1", &alice.id, None, NOW, NOW + 600)
        .await
        .unwrap();
    store
        .create_session("s2", &alice.id, None, NOW, NOW + 600)
        .await
        .unwrap();

    let found = store.find_session("s1", NOW + 1).await.unwrap().unwrap();
    assert_eq!(found.user.id, alice.id);
    assert_eq!(found.auth_time, NOW);
    assert_eq!(found.expires_at, NOW + 600);
    assert!(store.find_session("s1", NOW + 600).await.unwrap().is_none());
    assert!(store.find_session("nope", NOW).await.unwrap().is_none());

    store.delete_session("s1").await.unwrap();
    assert!(store.find_session("s1", NOW + 1).await.unwrap().is_none());
    assert!(store.find_session("s2", NOW + 1).await.unwrap().is_some());

    store.set_user_disabled("alice", true, NOW).await.unwrap();
    assert!(store.find_session("s2", NOW + 1).await.unwrap().is_none());
}

#[tokio::test]
async fn a_pending_request_is_bound_to_its_browser_and_consumed_once() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    store
        .insert_pending_request("r1", "browser-a", "c1", r#"{"state":"x"}"#, NOW, NOW + 600)
        .await
        .unwrap();

    let json = store
        .find_pending_request("r1", "browser-a", NOW)
        .await
        .unwrap();
    assert_eq!(json.as_deref(), Some(r#"{"state":"x"}"#));
    assert!(
        store
            .find_pending_request("r1", "browser-b", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .consume_pending_request("r1", "browser-b", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_pending_request("r1", "browser-a", NOW + 600)
            .await
            .unwrap()
            .is_none()
    );

    // A new handle (after a round trip to an identity provider) only from its own browser;
    // the old one then names nothing.
    assert!(
        !store
            .rekey_pending_request("r1", "r2", "browser-b", NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .rekey_pending_request("r1", "r2", "browser-a", NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .find_pending_request("r1", "browser-a", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .rekey_pending_request("r2", "r1", "browser-a", NOW)
            .await
            .unwrap()
    );

    let first = store
        .consume_pending_request("r1", "browser-a", NOW)
        .await
        .unwrap();
    assert_eq!(first.as_deref(), Some(r#"{"state":"x"}"#));
    assert!(
        store
            .consume_pending_request("r1", "browser-a", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_pending_request("r1", "browser-a", NOW)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_expired_pending_request_is_not_consumed() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    store
        .insert_pending_request("r1", "b", "c1", "{}", NOW, NOW + 10)
        .await
        .unwrap();
    assert!(
        store
            .consume_pending_request("r1", "b", NOW + 10)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_grant_widens_its_scopes_and_is_found_listed_and_revoked() {
    use mcp_authd::store::GrantFilter;
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "c1").await;
    client(&store, "c2").await;
    let alice = store.create_user("alice", "h", NOW).await.unwrap();
    let bob = store.create_user("bob", "h", NOW).await.unwrap();
    let res = "https://mcp.example.com/mcp";

    let first = store
        .upsert_grant(&alice.id, "c1", res, &["read".into()], NOW)
        .await
        .unwrap();
    assert_eq!(first.scope, "read");
    let widened = store
        .upsert_grant(
            &alice.id,
            "c1",
            res,
            &["write".into(), "read".into()],
            NOW + 5,
        )
        .await
        .unwrap();
    assert_eq!(
        widened.id, first.id,
        "one grant per person, client and resource"
    );
    assert_eq!(widened.scope, "read write");
    assert_eq!(widened.updated_at, NOW + 5);
    assert_eq!(widened.created_at, NOW);

    let found = store
        .find_grant(&alice.id, "c1", res)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.scope, "read write");
    assert!(
        store
            .find_grant(&alice.id, "c2", res)
            .await
            .unwrap()
            .is_none()
    );
    let by_id = store.find_grant_by_id(&first.id).await.unwrap().unwrap();
    assert_eq!(by_id.user_id, alice.id);

    let other = store
        .upsert_grant(&bob.id, "c2", res, &["read".into()], NOW + 1)
        .await
        .unwrap();
    let all = store.list_grants(&GrantFilter::default()).await.unwrap();
    assert_eq!(all.len(), 2);
    let mine = store
        .list_grants(&GrantFilter {
            user_id: Some(alice.id.clone()),
            client_id: None,
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].username, "alice");
    assert_eq!(mine[0].client_name, "Inspector");
    let theirs = store
        .list_grants(&GrantFilter {
            user_id: None,
            client_id: Some("c2".into()),
        })
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].grant.id, other.id);

    let revoked = store
        .revoke_grants(&[first.id.clone(), "missing".into()], NOW + 9)
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    assert!(store.find_grant_by_id(&first.id).await.unwrap().is_none());
    assert!(store.find_grant_by_id(&other.id).await.unwrap().is_some());
}

#[tokio::test]
async fn revoking_a_grant_ends_its_refresh_family_and_access_token() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (alice, grant) = alice_granted_c1(&store).await;
    let mut token = refresh("c1", &alice.id, "rt-1", "fam-1");
    token.grant_id = Some(grant.id.clone());
    let jti = token.access_jti.clone();
    store.insert_refresh_token(&token).await.unwrap();

    store.revoke_grants(&[grant.id], NOW + 1).await.unwrap();
    assert!(
        store
            .find_refresh_token(&opaque::hash("rt-1"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.is_access_token_revoked(&jti).await.unwrap());
}

#[tokio::test]
async fn audit_events_are_listed_oldest_first_filtered_limited_and_pruned() {
    use mcp_authd::store::{AuditFilter, NewAuditRecord};
    let db = TestDb::new().await;
    let store = db.store().await;
    for (at, kind, user) in [
        (NOW, "login_failed", Some("u1")),
        (NOW + 1, "login", Some("u2")),
        (NOW + 2, "client_registered", None),
        (NOW + 3, "login", Some("u1")),
    ] {
        store
            .insert_audit_event(&NewAuditRecord {
                at,
                kind,
                user_id: user,
                client_id: user.map(|_| "c1"),
                ip: Some("192.0.2.1"),
                detail: "{}",
            })
            .await
            .unwrap();
    }
    let all = store
        .list_audit_events(&AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let kinds: Vec<_> = all.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["login_failed", "login", "client_registered", "login"]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(all[0].ip.as_deref(), Some("192.0.2.1"));

    let newest_two = store
        .list_audit_events(&AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest_two.iter().map(|e| e.at).collect::<Vec<_>>(),
        [NOW + 2, NOW + 3]
    );
    let u1 = store
        .list_audit_events(&AuditFilter {
            user_id: Some("u1".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(u1.len(), 2);
    let since = store
        .list_audit_events(&AuditFilter {
            since: Some(NOW + 2),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 2);

    assert_eq!(store.delete_audit_events_before(NOW + 2).await.unwrap(), 2);
    let left = store
        .list_audit_events(&AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(left.len(), 2);
    assert_eq!(left[0].at, NOW + 2);
}

/// A key about to be stored; the store keeps the key material as opaque text.
fn signing_key(kid: &str, activates_at: i64) -> NewSigningKey {
    NewSigningKey {
        kid: kid.into(),
        algorithm: "ES256".into(),
        public_jwk: format!(r#"{{"kty":"EC","kid":"{kid}"}}"#),
        private_key: format!("sealed-{kid}"),
        activates_at,
    }
}

/// A stored key without its material, so whole states compare in one assertion.
#[derive(Debug, PartialEq)]
struct KeyRow {
    kid: String,
    generation: i64,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
    withdrawn_at: Option<i64>,
}

fn key_row(
    kid: &str,
    generation: i64,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
    withdrawn_at: Option<i64>,
) -> KeyRow {
    KeyRow {
        kid: kid.into(),
        generation,
        created_at,
        activates_at,
        retires_at,
        withdrawn_at,
    }
}

fn key_rows(keys: &[StoredSigningKey]) -> Vec<KeyRow> {
    keys.iter()
        .map(|k| {
            key_row(
                &k.kid,
                k.generation,
                k.created_at,
                k.activates_at,
                k.retires_at,
                k.withdrawn_at,
            )
        })
        .collect()
}

/// Runs `attempt` 24 times at the same moment (task `i` gets `i`); the tasks whose
/// attempt reported a change, each attempt free of database errors.
async fn race<F, Fut>(store: &Store, attempt: F) -> Vec<usize>
where
    F: Fn(Store, usize) -> Fut,
    Fut: std::future::Future<Output = Result<bool, StoreError>> + Send + 'static,
{
    const TASKS: usize = 24;
    let barrier = Arc::new(Barrier::new(TASKS));
    // Spawned before any is awaited, so all reach the barrier.
    let handles: Vec<_> = (0..TASKS)
        .map(|i| {
            let (barrier, attempt) = (barrier.clone(), attempt(store.clone(), i));
            tokio::spawn(async move {
                barrier.wait().await;
                attempt.await
            })
        })
        .collect();
    let mut winners = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        if handle
            .await
            .unwrap()
            .expect("no database error under contention")
        {
            winners.push(i);
        }
    }
    winners
}

/// `k1` stored as the first key at `NOW`.
async fn first_key_k1(store: &Store) {
    store
        .insert_first_signing_key(&signing_key("k1", NOW), NOW)
        .await
        .unwrap();
}

/// `k1` first, then `k2` scheduled at `NOW + 10` to sign from `NOW + 100`.
async fn k1_then_k2_scheduled(store: &Store) {
    first_key_k1(store).await;
    store
        .schedule_signing_key("k1", &signing_key("k2", NOW + 100), NOW + 300, NOW + 10)
        .await
        .unwrap();
}

/// The same, then `k3` replacing every key at `NOW + 20`, signed ones withdrawn at `NOW + 50`.
async fn k1_k2_scheduled_then_k3_replacing(store: &Store) {
    k1_then_k2_scheduled(store).await;
    store
        .replace_signing_keys(&signing_key("k3", NOW + 20), NOW + 50, NOW + 20)
        .await
        .unwrap();
}

/// Every stored key, withdrawn ones included.
async fn all_keys(store: &Store) -> Vec<KeyRow> {
    key_rows(&store.list_signing_keys().await.unwrap())
}

/// The kids in the JWKS at `now`.
async fn published_kids(store: &Store, now: i64) -> Vec<String> {
    store
        .published_signing_keys(now)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect()
}

/// Runs one statement straight on the test database, for states the store's own writes
/// never leave behind (keys from before generations existed, every key retired).
async fn execute_raw(db: &TestDb, sql: &str) {
    use sqlx::Connection;
    if db.url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn the_first_signing_key_is_stored_once_with_every_field_and_generation_one() {
    let db = TestDb::new().await;
    let store = db.store().await;
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    assert!(published_kids(&store, NOW).await.is_empty());

    assert!(
        store
            .insert_first_signing_key(&signing_key("k1", NOW), NOW)
            .await
            .unwrap()
    );
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(keys.len(), 1);
    let stored = &keys[0];
    assert_eq!(stored.algorithm, "ES256");
    assert_eq!(stored.public_jwk, r#"{"kty":"EC","kid":"k1"}"#);
    assert_eq!(stored.private_key, "sealed-k1");
    assert_eq!(key_rows(&keys), [key_row("k1", 1, NOW, NOW, None, None)]);
    assert_eq!(published_kids(&store, NOW).await, ["k1"]);

    // k1 signs, so a second first key is refused and nothing is written.
    assert!(
        !store
            .insert_first_signing_key(&signing_key("k2", NOW + 1), NOW + 1)
            .await
            .unwrap()
    );
    assert_eq!(
        all_keys(&store).await,
        [key_row("k1", 1, NOW, NOW, None, None)]
    );
}

/// A key that only signs later (published ahead of its activation) still counts as live.
#[tokio::test]
async fn a_first_key_is_refused_while_a_key_is_scheduled_to_sign_later() {
    let db = TestDb::new().await;
    let store = db.store().await;
    assert!(
        store
            .insert_first_signing_key(&signing_key("k1", NOW + 100), NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_first_signing_key(&signing_key("k2", NOW + 1), NOW + 1)
            .await
            .unwrap()
    );
    assert_eq!(
        all_keys(&store).await,
        [key_row("k1", 1, NOW, NOW + 100, None, None)]
    );
}

/// The replacement path: once no key signs (retired, or gone from the JWKS) a new first key
/// goes in at the next generation; a kid already used is refused like a lost race.
#[tokio::test]
async fn a_first_key_is_stored_again_once_every_key_has_retired_or_been_withdrawn() {
    let db = TestDb::new().await;
    let store = db.store().await;
    first_key_k1(&store).await;
    execute_raw(
        &db,
        &format!(
            "UPDATE signing_keys SET retires_at = {} WHERE kid = 'k1'",
            NOW + 10
        ),
    )
    .await;
    assert!(
        !store
            .insert_first_signing_key(&signing_key("k2", NOW + 9), NOW + 9)
            .await
            .unwrap(),
        "k1 still signs until NOW + 10"
    );
    assert!(
        store
            .insert_first_signing_key(&signing_key("k2", NOW + 10), NOW + 10)
            .await
            .unwrap()
    );

    // Withdrawn without a retirement also ends a key.
    execute_raw(
        &db,
        &format!(
            "UPDATE signing_keys SET withdrawn_at = {} WHERE kid = 'k2'",
            NOW + 20
        ),
    )
    .await;
    assert!(
        !store
            .insert_first_signing_key(&signing_key("k3", NOW + 19), NOW + 19)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_first_signing_key(&signing_key("k3", NOW + 20), NOW + 20)
            .await
            .unwrap()
    );
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("k1", 1, NOW, NOW, Some(NOW + 10), None),
            key_row("k2", 2, NOW + 10, NOW + 10, None, Some(NOW + 20)),
            key_row("k3", 3, NOW + 20, NOW + 20, None, None),
        ]
    );

    execute_raw(
        &db,
        &format!(
            "UPDATE signing_keys SET retires_at = {} WHERE kid = 'k3'",
            NOW + 30
        ),
    )
    .await;
    let before = all_keys(&store).await;
    assert!(
        !store
            .insert_first_signing_key(&signing_key("k1", NOW + 30), NOW + 30)
            .await
            .unwrap(),
        "a kid already stored is refused, not an error"
    );
    assert_eq!(all_keys(&store).await, before);
}

#[tokio::test]
async fn concurrent_first_keys_have_exactly_one_winner() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let winners = race(&store, |store, i| async move {
        store
            .insert_first_signing_key(&signing_key(&format!("k-{i}"), NOW), NOW)
            .await
    })
    .await;
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        all_keys(&store).await,
        [key_row(
            &format!("k-{}", winners[0]),
            1,
            NOW,
            NOW,
            None,
            None
        )]
    );
}

#[tokio::test]
async fn scheduling_a_rotation_publishes_the_next_key_now_and_retires_the_current_one_when_it_activates()
 {
    let db = TestDb::new().await;
    let store = db.store().await;
    first_key_k1(&store).await;
    assert!(
        store
            .schedule_signing_key("k1", &signing_key("k2", NOW + 100), NOW + 200, NOW + 10)
            .await
            .unwrap()
    );
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("k1", 1, NOW, NOW, Some(NOW + 100), Some(NOW + 200)),
            key_row("k2", 2, NOW + 10, NOW + 100, None, None),
        ]
    );
    assert_eq!(published_kids(&store, NOW + 10).await, ["k1", "k2"]);
    assert_eq!(published_kids(&store, NOW + 199).await, ["k1", "k2"]);
    assert_eq!(published_kids(&store, NOW + 200).await, ["k2"]);
    assert_eq!(
        key_rows(&store.list_signing_keys().await.unwrap()).len(),
        2,
        "a withdrawn key is still listed"
    );

    // The next rotation claims k2 only: k1's times stay as they were.
    assert!(
        store
            .schedule_signing_key("k2", &signing_key("k3", NOW + 300), NOW + 400, NOW + 210)
            .await
            .unwrap()
    );
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("k1", 1, NOW, NOW, Some(NOW + 100), Some(NOW + 200)),
            key_row(
                "k2",
                2,
                NOW + 10,
                NOW + 100,
                Some(NOW + 300),
                Some(NOW + 400)
            ),
            key_row("k3", 3, NOW + 210, NOW + 300, None, None),
        ]
    );
}

/// `Ok(false)` means another instance rotated first: the state must be exactly as before.
#[tokio::test]
async fn rotating_a_key_already_retiring_unknown_or_into_a_used_kid_changes_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    first_key_k1(&store).await;
    store
        .schedule_signing_key("k1", &signing_key("k2", NOW + 100), NOW + 200, NOW + 10)
        .await
        .unwrap();
    let before = all_keys(&store).await;
    for (current, next) in [("k1", "k3"), ("no-such-kid", "k3"), ("k2", "k1")] {
        assert!(
            !store
                .schedule_signing_key(current, &signing_key(next, NOW + 150), NOW + 250, NOW + 20)
                .await
                .unwrap(),
            "{current} -> {next}"
        );
        assert_eq!(all_keys(&store).await, before, "{current} -> {next}");
    }
}

#[tokio::test]
async fn concurrent_rotations_of_one_key_have_exactly_one_winner() {
    let db = TestDb::new().await;
    let store = db.store().await;
    first_key_k1(&store).await;
    let winners = race(&store, |store, i| async move {
        let next = signing_key(&format!("k2-{i}"), NOW + 100);
        store
            .schedule_signing_key("k1", &next, NOW + 200, NOW + 10)
            .await
    })
    .await;
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("k1", 1, NOW, NOW, Some(NOW + 100), Some(NOW + 200)),
            key_row(
                &format!("k2-{}", winners[0]),
                2,
                NOW + 10,
                NOW + 100,
                None,
                None
            ),
        ]
    );
}

/// Keys that signed stay verifiable until `withdraw_signed_at`; a key published ahead of
/// its activation never signed anything, so it leaves the JWKS at once.
#[tokio::test]
async fn an_immediate_replacement_retires_every_key_now_and_withdraws_only_signed_ones_later() {
    let db = TestDb::new().await;
    let store = db.store().await;
    k1_k2_scheduled_then_k3_replacing(&store).await;
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("k1", 1, NOW, NOW, Some(NOW + 20), Some(NOW + 50)),
            key_row("k2", 2, NOW + 10, NOW + 100, Some(NOW + 20), Some(NOW + 20)),
            key_row("k3", 3, NOW + 20, NOW + 20, None, None),
        ]
    );
    assert_eq!(published_kids(&store, NOW + 20).await, ["k1", "k3"]);
    assert_eq!(published_kids(&store, NOW + 50).await, ["k3"]);
}

/// A replacement only ever brings retirements and withdrawals forward.
#[tokio::test]
async fn a_replacement_never_moves_an_earlier_retirement_or_withdrawal_later() {
    let db = TestDb::new().await;
    let store = db.store().await;
    k1_k2_scheduled_then_k3_replacing(&store).await;
    store
        .replace_signing_keys(&signing_key("k4", NOW + 30), NOW + 1_000, NOW + 30)
        .await
        .unwrap();
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("k1", 1, NOW, NOW, Some(NOW + 20), Some(NOW + 50)),
            key_row("k2", 2, NOW + 10, NOW + 100, Some(NOW + 20), Some(NOW + 20)),
            key_row(
                "k3",
                3,
                NOW + 20,
                NOW + 20,
                Some(NOW + 30),
                Some(NOW + 1_000)
            ),
            key_row("k4", 4, NOW + 30, NOW + 30, None, None),
        ]
    );
}

/// The emergency path passes `now` for `withdraw_signed_at`: every old key leaves at once.
#[tokio::test]
async fn an_emergency_replacement_leaves_only_the_new_key_in_the_jwks() {
    let db = TestDb::new().await;
    let store = db.store().await;
    k1_then_k2_scheduled(&store).await;
    store
        .replace_signing_keys(&signing_key("k3", NOW + 20), NOW + 20, NOW + 20)
        .await
        .unwrap();
    assert_eq!(published_kids(&store, NOW + 20).await, ["k3"]);
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("k1", 1, NOW, NOW, Some(NOW + 20), Some(NOW + 20)),
            key_row("k2", 2, NOW + 10, NOW + 100, Some(NOW + 20), Some(NOW + 20)),
            key_row("k3", 3, NOW + 20, NOW + 20, None, None),
        ]
    );
}

/// The caller may retry a `Conflict`, so the refused replacement must not have retired or
/// withdrawn anything.
#[tokio::test]
async fn a_replacement_with_a_used_kid_is_a_conflict_and_changes_nothing() {
    let db = TestDb::new().await;
    let store = db.store().await;
    first_key_k1(&store).await;
    let before = all_keys(&store).await;
    let replaced = store
        .replace_signing_keys(&signing_key("k1", NOW + 20), NOW + 20, NOW + 20)
        .await;
    assert!(
        matches!(replaced, Err(StoreError::Conflict(_))),
        "{replaced:?}"
    );
    assert_eq!(all_keys(&store).await, before);
    assert_eq!(published_kids(&store, NOW + 20).await, ["k1"]);
}

/// Rows written before migration 0002 have no generation: they read as 0 and sort first,
/// and the next key takes generation 1.
#[tokio::test]
async fn keys_from_before_generations_read_as_generation_zero_and_the_next_key_is_one() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store
        .insert_first_signing_key(&signing_key("legacy", NOW), NOW)
        .await
        .unwrap();
    execute_raw(&db, "UPDATE signing_keys SET generation = NULL").await;
    assert_eq!(
        all_keys(&store).await,
        [key_row("legacy", 0, NOW, NOW, None, None)]
    );
    assert!(
        store
            .schedule_signing_key("legacy", &signing_key("k1", NOW + 100), NOW + 200, NOW + 10)
            .await
            .unwrap()
    );
    assert_eq!(
        all_keys(&store).await,
        [
            key_row("legacy", 0, NOW, NOW, Some(NOW + 100), Some(NOW + 200)),
            key_row("k1", 1, NOW + 10, NOW + 100, None, None),
        ]
    );
    assert_eq!(published_kids(&store, NOW + 10).await, ["legacy", "k1"]);
}

/// PostgreSQL instances wake on another instance's committed key change; SQLite has no
/// notifications and says so, so its instances poll.
#[tokio::test]
async fn key_changes_by_another_instance_are_announced_on_postgresql_only() {
    use std::time::Duration;
    let db = TestDb::new().await;
    let store = db.store().await;
    let other = db.store().await;
    let listener = store.listen_for_key_changes().await.unwrap();
    if !db.url.starts_with("postgres") {
        assert!(!store.announces_key_changes());
        assert!(listener.is_none());
        return;
    }
    assert!(store.announces_key_changes());
    let mut listener = listener.expect("a listener on PostgreSQL");
    // Only a hang guard: the notification is sent at commit, before the write returns.
    let guard = Duration::from_secs(60);

    other
        .insert_first_signing_key(&signing_key("k1", NOW), NOW)
        .await
        .unwrap();
    tokio::time::timeout(guard, listener.changed())
        .await
        .expect("the first key is announced")
        .unwrap();
    other
        .schedule_signing_key("k1", &signing_key("k2", NOW + 100), NOW + 200, NOW + 10)
        .await
        .unwrap();
    tokio::time::timeout(guard, listener.changed())
        .await
        .expect("a scheduled rotation is announced")
        .unwrap();
    other
        .replace_signing_keys(&signing_key("k3", NOW + 20), NOW + 20, NOW + 20)
        .await
        .unwrap();
    tokio::time::timeout(guard, listener.changed())
        .await
        .expect("a replacement is announced")
        .unwrap();
}

/// The operator's view of the store: clients counted by how they arrived, the connection
/// pools of this backend, and a closed store refusing work as unavailable (503, not 500).
#[tokio::test]
async fn operator_counts_pools_and_a_closed_store_answer_on_both_backends() {
    let db = TestDb::new().await;
    let store = db.store().await;
    client(&store, "cli-1").await;
    client(&store, "cli-2").await;
    let dynamic = new_client("dyn-1", ClientSource::Dynamic);
    store.create_client(dynamic, NOW).await.unwrap();
    assert_eq!(
        store.count_clients_by_source().await.unwrap(),
        vec![("cli".to_owned(), 2), ("dynamic".to_owned(), 1)]
    );

    let postgres = db.url.starts_with("postgres");
    assert_eq!(
        store.backend_name(),
        if postgres { "postgres" } else { "sqlite" }
    );
    let pools: Vec<&str> = store.pool_usage().iter().map(|p| p.pool).collect();
    assert_eq!(
        pools,
        if postgres {
            vec!["main"]
        } else {
            vec!["writer", "reader"]
        }
    );
    assert!(
        store
            .pool_usage()
            .iter()
            .all(|p| p.idle <= p.size && p.size <= p.max.max(p.size))
    );

    store.close().await;
    let error = store.find_client("cli-1").await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
}

/// Every public method of the store is exercised by this suite, so it runs on both
/// backends; a new method without a test here fails this.
#[test]
fn every_store_method_is_exercised_by_this_suite() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite = std::fs::read_to_string(root.join("tests/it/store_suite.rs")).unwrap();
    // Used by every test through `TestDb::store`.
    let through_helpers = ["connect", "migrate"];
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("src/store")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in code.lines() {
            let line = line.trim_start();
            let Some(rest) = line
                .strip_prefix("pub async fn ")
                .or_else(|| line.strip_prefix("pub fn "))
            else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !through_helpers.contains(&name.as_str()) && !suite.contains(&format!(".{name}(")) {
                missing.push(format!("{}: {name}", path.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "store methods without a test in store_suite.rs:\n{}",
        missing.join("\n")
    );
}

#[tokio::test]
async fn a_round_trip_to_a_provider_is_taken_once_by_its_own_browser_until_swept() {
    let db = TestDb::new().await;
    let store = db.store().await;
    store
        .insert_federated_sign_in("state-1", "corp", "browser-a", Some("req"), NOW, NOW + 600)
        .await
        .unwrap();
    let take = |provider: &'static str, browser: &'static str| {
        let store = store.clone();
        async move {
            store
                .take_federated_sign_in("state-1", provider, browser, NOW + 1)
                .await
                .unwrap()
        }
    };
    assert!(take("corp", "browser-b").await.is_none(), "another browser");
    assert!(
        take("other", "browser-a").await.is_none(),
        "another provider"
    );
    let barrier = Arc::new(Barrier::new(8));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .take_federated_sign_in("state-1", "corp", "browser-a", NOW + 1)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = Vec::new();
    for racer in racers {
        won.extend(racer.await.unwrap());
    }
    assert_eq!(won.len(), 1, "one of eight racing callbacks wins");
    assert_eq!(won[0].request_hash.as_deref(), Some("req"));

    store
        .insert_federated_sign_in("state-2", "corp", "browser-a", None, NOW, NOW + 600)
        .await
        .unwrap();
    assert!(
        store
            .take_federated_sign_in("state-2", "corp", "browser-a", NOW + 600)
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert_eq!(
        store
            .sweep_expired_federated_sign_ins(NOW + 600)
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_provider_subject_is_linked_to_one_person_who_keeps_what_the_provider_says() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let profile = Profile {
        display_name: Some("Alice".into()),
        email: Some("alice@acme.example".into()),
        email_verified: true,
    };
    let alice = store
        .create_federated_user("corp:alice", ("corp", "sub-1"), &profile, NOW)
        .await
        .unwrap();
    assert!(alice.password_hash.is_empty(), "no password");
    let found = store.find_federated_user("corp", "sub-1").await.unwrap();
    assert_eq!(found.map(|u| u.id), Some(alice.id.clone()));
    assert!(
        store
            .find_federated_user("other", "sub-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store
            .create_federated_user("corp:alice2", ("corp", "sub-1"), &profile, NOW)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        store
            .find_user_by_username("corp:alice2")
            .await
            .unwrap()
            .is_none(),
        "a failed creation leaves no person behind"
    );

    let changed = Profile {
        email: Some("alice@new.example".into()),
        ..profile
    };
    store
        .touch_federated_identity(("corp", "sub-1"), &changed, NOW + 5)
        .await
        .unwrap();
    let alice = store.find_user(&alice.id).await.unwrap().unwrap();
    assert_eq!(alice.email.as_deref(), Some("alice@new.example"));

    store.create_user("bob", "hash", NOW).await.unwrap();
    store
        .link_federated_identity("bob", "corp", "sub-2", NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .link_federated_identity("bob", "corp", "sub-1", NOW)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let links = store.list_federated_identities().await.unwrap();
    assert_eq!(links.len(), 2);
    store.delete_user("corp:alice", NOW).await.unwrap();
    assert!(
        store
            .find_federated_user("corp", "sub-1")
            .await
            .unwrap()
            .is_none()
    );
}

fn upstream_row(user_id: &str, provider: &str, access: &str, at: i64) -> UpstreamTokens {
    UpstreamTokens {
        user_id: user_id.into(),
        provider: provider.into(),
        access_token: access.into(),
        refresh_token: Some(format!("sealed-refresh-{access}")),
        token_type: "Bearer".into(),
        scope: Some("openid email".into()),
        expires_at: Some(at + 3_600),
        updated_at: at,
    }
}

#[tokio::test]
async fn upstream_tokens_are_replaced_forgotten_only_when_unchanged_and_die_with_access() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let (alice, grant) = alice_granted_c1(&store).await;
    let bob = store.create_user("bob", "h", NOW).await.unwrap();
    let carol = store.create_user("carol", "h", NOW).await.unwrap();
    for person in [&alice, &bob, &carol] {
        store
            .save_upstream_tokens(&upstream_row(&person.id, "corp", "a1", NOW))
            .await
            .unwrap();
    }
    store
        .save_upstream_tokens(&upstream_row(&alice.id, "github", "g1", NOW))
        .await
        .unwrap();

    // A refresh replaces the row; forgetting what an older read saw leaves the new one.
    store
        .save_upstream_tokens(&upstream_row(&alice.id, "corp", "a2", NOW + 10))
        .await
        .unwrap();
    let found = store
        .find_upstream_tokens(&alice.id, "corp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, upstream_row(&alice.id, "corp", "a2", NOW + 10));
    assert_eq!(
        store
            .forget_upstream_tokens(&alice.id, "corp", NOW)
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .find_upstream_tokens(&alice.id, "corp")
            .await
            .unwrap()
            .is_some()
    );

    // Revoking alice's grant deletes every upstream token of hers, and nobody else's.
    store.revoke_grants(&[grant.id], NOW + 20).await.unwrap();
    for provider in ["corp", "github"] {
        let kept = store.find_upstream_tokens(&alice.id, provider).await;
        assert!(kept.unwrap().is_none(), "{provider}");
    }
    assert!(
        store
            .find_upstream_tokens(&bob.id, "corp")
            .await
            .unwrap()
            .is_some()
    );
    // Revoking a person's tokens, or disabling them, does too.
    store.revoke_user_tokens(&bob.id, NOW + 30).await.unwrap();
    assert!(
        store
            .find_upstream_tokens(&bob.id, "corp")
            .await
            .unwrap()
            .is_none()
    );
    store
        .set_user_disabled("carol", true, NOW + 40)
        .await
        .unwrap();
    assert!(
        store
            .find_upstream_tokens(&carol.id, "corp")
            .await
            .unwrap()
            .is_none()
    );
    // A row a provider refused is forgotten when nobody replaced it since.
    store
        .save_upstream_tokens(&upstream_row(&bob.id, "corp", "b2", NOW + 50))
        .await
        .unwrap();
    assert_eq!(
        store
            .forget_upstream_tokens(&bob.id, "corp", NOW + 50)
            .await
            .unwrap(),
        1
    );
    // Deleting a person deletes theirs by cascade.
    store
        .save_upstream_tokens(&upstream_row(&bob.id, "corp", "b3", NOW + 60))
        .await
        .unwrap();
    store.delete_user("bob", NOW + 70).await.unwrap();
    assert!(
        store
            .find_upstream_tokens(&bob.id, "corp")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn every_client_change_but_the_used_mark_moves_the_change_counter_seen_by_every_process() {
    let db = TestDb::new().await;
    let here = db.store().await;
    // Another instance, or the CLI, on the same database.
    let elsewhere = db.store().await;
    client(&here, "c1").await;
    client(&here, "c2").await;
    client(&here, "c3").await;
    let version = here.clients_version().await.unwrap();
    let local = here.local_client_changes();

    here.mark_client_used("c1", NOW + 1).await.unwrap();
    assert_eq!(
        here.clients_version().await.unwrap(),
        version,
        "the used mark is no change"
    );
    assert_eq!(here.local_client_changes(), local);

    let renamed = ClientUpdate {
        settings: Some(ClientSettings {
            name: "Renamed".into(),
            ..settings()
        }),
        ..ClientUpdate::default()
    };
    elsewhere
        .update_client("c1", renamed, NOW + 2)
        .await
        .unwrap();
    let after_update = here.clients_version().await.unwrap();
    assert!(
        after_update > version,
        "another process's update shows in the counter"
    );
    assert_eq!(
        here.local_client_changes(),
        local,
        "and is not counted as this process's"
    );
    assert!(elsewhere.local_client_changes() > 0);

    here.revoke_client_tokens("c1", NOW + 3).await.unwrap();
    let after_revocation = elsewhere.clients_version().await.unwrap();
    assert!(after_revocation > after_update);
    here.delete_client("c2", NOW + 4).await.unwrap();
    let after_delete = elsewhere.clients_version().await.unwrap();
    assert!(after_delete > after_revocation);
    assert_eq!(here.local_client_changes(), local + 2);

    let document = NewClient {
        id: "https://app.example/client.json".into(),
        ..new_client("", ClientSource::Cimd)
    };
    here.upsert_cimd_client(document.clone(), NOW + 5)
        .await
        .unwrap();
    here.upsert_cimd_client(document, NOW + 6).await.unwrap();
    assert!(
        elsewhere.clients_version().await.unwrap() > after_delete,
        "refreshing a document's copy is a change"
    );
    let before_sweep = here.local_client_changes();
    assert_eq!(here.delete_unused_clients(NOW + 100).await.unwrap(), 1);
    assert_eq!(
        here.local_client_changes(),
        before_sweep + 1,
        "the sweep is a change"
    );
}
