//! Signing keys: the whole rotation lifecycle checked against the JWKS as served, instances
//! racing on one database, forged tokens, and private keys sealed at rest.

use crate::helpers::{TestApp, TestDb, test_config};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mcp_authd::app::keys::{KeyInfo, Keys, RotationOutcome};
use mcp_authd::config::{Config, Seconds};
use mcp_authd::support::clock::Clock;
use mcp_authd::support::secret::Secret;
use mcp_authd::tokens::access_token::AccessTokenClaims;
use mcp_authd::tokens::key_encryption::{KeyEncryptionKey, KeySource};
use mcp_authd::tokens::keyring::{KeyError, Rejection};
use mcp_authd::tokens::rotation::{KeyState, RotationKind};
use mcp_authd::tokens::signing_key::KeyMaterial;
use mcp_authd::tokens::signing_key::SigningAlgorithm;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const TTL: i64 = 3_600;
const PREPUBLISH: i64 = DAY;
const ROTATION: i64 = 10 * DAY;
const MARGIN: i64 = mcp_authd::tokens::rotation::RETIRED_KEY_MARGIN_SECONDS;
const ENCRYPTION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn schedule(config: &mut Config) {
    config.tokens.access_token_ttl = Seconds(TTL as u64);
    config.keys.prepublish = Seconds(PREPUBLISH as u64);
    config.keys.rotation_interval = Seconds(ROTATION as u64);
    config.keys.encryption_key = Some(Secret::new(ENCRYPTION_KEY));
}

fn claims(app: &TestApp, now: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: app.base_url.clone(),
        sub: "user-1".into(),
        aud: "https://mcp.example.com/mcp".into(),
        client_id: "client-1".into(),
        scope: "mcp:read".into(),
        iat: now,
        exp: now + TTL,
        jti: mcp_authd::tokens::opaque::new_id(),
        auth_time: Some(now - 10),
    }
}

/// `/jwks.json` as a resource server fetches it, after checking its headers.
async fn served_jwks(app: &TestApp) -> Value {
    let response = app.http.get(app.url("/jwks.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/json");
    assert_eq!(header("cache-control"), "public, max-age=300");
    response.json().await.unwrap()
}

fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Verifies `token` as an independent resource server would: pick the JWK by kid, build the
/// key from the JWK alone, check typ, signature, issuer and expiry at `now`.
fn verify_with_jwks(jwks: &Value, token: &str, issuer: &str, now: i64) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err("typ is not at+jwt".into());
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = DecodingKey::from_jwk(&parsed).map_err(|e| e.to_string())?;
    let alg: Algorithm = jwk["alg"].as_str().unwrap().parse().unwrap();
    let mut validation = Validation::new(alg);
    validation.validate_exp = false; // the test's clock, not the machine's, decides
    validation.validate_aud = false;
    validation.set_issuer(&[issuer]);
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| e.to_string())?;
    if data.claims["exp"].as_i64().unwrap() <= now {
        return Err("expired".into());
    }
    Ok(data.claims)
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn rejection(result: Result<AccessTokenClaims, KeyError>) -> Rejection {
    match result {
        Err(KeyError::Rejected(why)) => why,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Walks one instance through a lifecycle, checking the rules at every step.
struct Walk {
    app: TestApp,
    clock: Clock,
    /// Every token minted and not yet expected dead, with its expiry.
    live: Vec<(String, i64)>,
    /// When each kid first appeared in the served JWKS.
    first_seen: HashMap<String, i64>,
    /// Kids allowed to sign without prepublication (the first key, emergency keys).
    unpublished_ok: Vec<String>,
}

impl Walk {
    /// Moves the clock to `at`, refreshes like the background task, mints a token, and checks
    /// every live token against the JWKS served now. Returns the served kids.
    async fn step(&mut self, at: i64, label: &str) -> Vec<String> {
        self.clock.advance(at - self.clock.now());
        self.app.state.keys.refresh().await.unwrap();
        let now = self.clock.now();
        let jwks = served_jwks(&self.app).await;
        let kids = jwks_kids(&jwks);
        for kid in &kids {
            self.first_seen.entry(kid.clone()).or_insert(now);
        }
        assert_eq!(kids, self.app.state.keys.published_kids(), "{label}");

        let token = self.app.state.keys.sign(&claims(&self.app, now)).unwrap();
        let kid = kid_of(&token);
        assert!(
            kids.contains(&kid),
            "{label}: signed with unpublished {kid}"
        );
        if !self.unpublished_ok.contains(&kid) {
            let published_for = now - self.first_seen[&kid];
            assert!(
                published_for >= PREPUBLISH,
                "{label}: {kid} signs after only {published_for}s in the JWKS"
            );
        }
        self.live.push((token, now + TTL));

        self.live.retain(|(_, exp)| *exp > now);
        for (token, _) in &self.live {
            verify_with_jwks(&jwks, token, &self.app.base_url, now)
                .unwrap_or_else(|e| panic!("{label}: a valid token fails against the JWKS: {e}"));
            self.app
                .state
                .keys
                .verify(token, now)
                .unwrap_or_else(|e| panic!("{label}: keyring refuses a valid token: {e}"));
        }
        kids
    }

    async fn states(&self) -> Vec<(String, KeyState)> {
        let now = self.clock.now();
        let rows = self.app.state.store.list_signing_keys().await.unwrap();
        rows.iter()
            .map(|r| {
                let info = KeyInfo::of(r, now);
                (info.kid, info.state)
            })
            .collect()
    }
}

#[tokio::test]
async fn keys_rotate_through_their_whole_life_and_every_valid_token_verifies_against_the_served_jwks()
 {
    let clock = Clock::fixed(T0);
    let app = TestApp::spawn_with_clock(clock.clone(), schedule).await;
    let first = app.state.keys.signing_kid().unwrap();
    let mut walk = Walk {
        app,
        clock,
        live: Vec::new(),
        first_seen: HashMap::new(),
        unpublished_ok: vec![first.clone()],
    };

    // The first key signs at once: there is no token that could be disturbed.
    assert_eq!(walk.step(T0, "first key").await, vec![first.clone()]);
    assert_eq!(walk.states().await, vec![(first.clone(), KeyState::Active)]);
    let due = T0 + ROTATION - PREPUBLISH;
    assert_eq!(
        walk.step(due - 1, "just before the next key is due").await,
        vec![first.clone()]
    );

    // The next key is published, and does not sign yet.
    let kids = walk.step(due, "next key prepublished").await;
    assert_eq!(kids.len(), 2);
    let second = kids[1].clone();
    assert_eq!(walk.app.state.keys.signing_kid(), Some(first.clone()));
    assert_eq!(
        walk.states().await,
        vec![
            (first.clone(), KeyState::Active),
            (second.clone(), KeyState::Next)
        ]
    );
    walk.app.state.keys.refresh().await.unwrap();
    assert_eq!(
        walk.app
            .state
            .store
            .list_signing_keys()
            .await
            .unwrap()
            .len(),
        2,
        "a second refresh creates no other key"
    );

    // The old key signs up to the last second of its interval.
    let switch = T0 + ROTATION;
    walk.step(switch - 1, "last second of the first key").await;
    let last_of_first = walk.live.last().unwrap().0.clone();
    assert_eq!(kid_of(&last_of_first), first);

    // The next key signs; the retired key stays published for its tokens.
    assert_eq!(
        walk.step(switch, "second key active").await,
        vec![first.clone(), second.clone()]
    );
    assert_eq!(walk.app.state.keys.signing_kid(), Some(second.clone()));
    assert_eq!(
        walk.states().await,
        vec![
            (first.clone(), KeyState::Retired),
            (second.clone(), KeyState::Active)
        ]
    );
    walk.step(
        switch - 1 + TTL - 1,
        "retired key's last token, one second before it expires",
    )
    .await;
    assert!(walk.live.iter().any(|(t, _)| *t == last_of_first));

    // Every token of the retired key has expired; it leaves after the margin.
    let withdrawn = switch + TTL + MARGIN;
    assert_eq!(
        walk.step(withdrawn - 1, "retired key still published")
            .await,
        vec![first.clone(), second.clone()]
    );
    assert_eq!(
        rejection(walk.app.state.keys.verify(&last_of_first, withdrawn - 1)),
        Rejection::Expired
    );
    assert_eq!(
        walk.step(withdrawn, "retired key withdrawn").await,
        vec![second.clone()]
    );
    assert_eq!(
        rejection(walk.app.state.keys.verify(&last_of_first, withdrawn)),
        Rejection::UnknownKey
    );
    assert_eq!(walk.states().await[0], (first.clone(), KeyState::Withdrawn));

    // `keys rotate` starts a prepublished rotation now, once.
    let at = withdrawn + 60;
    walk.step(at, "before an operator rotation").await;
    let RotationOutcome::Scheduled(third) = walk
        .app
        .state
        .keys
        .rotate(RotationKind::Prepublished)
        .await
        .unwrap()
    else {
        panic!("expected a scheduled rotation")
    };
    assert_eq!(third.state, KeyState::Next);
    assert_eq!(third.activates_at, at + PREPUBLISH);
    assert!(matches!(
        walk.app.state.keys.rotate(RotationKind::Prepublished).await.unwrap(),
        RotationOutcome::AlreadyScheduled(ref k) if k.kid == third.kid
    ));
    walk.step(at, "operator rotation published").await;
    walk.step(at + PREPUBLISH, "operator rotation signs").await;
    assert_eq!(walk.app.state.keys.signing_kid(), Some(third.kid.clone()));

    // The emergency path: the new key signs at once, everything else is gone.
    let now = at + PREPUBLISH + 120;
    walk.clock.advance(now - walk.clock.now());
    let before: Vec<String> = walk.live.iter().map(|(t, _)| t.clone()).collect();
    let RotationOutcome::Replaced(emergency) = walk
        .app
        .state
        .keys
        .rotate(RotationKind::Immediate)
        .await
        .unwrap()
    else {
        panic!("expected a replacement")
    };
    assert_eq!(emergency.state, KeyState::Active);
    assert_eq!(
        walk.app.state.keys.signing_kid(),
        Some(emergency.kid.clone())
    );
    assert_eq!(
        jwks_kids(&served_jwks(&walk.app).await),
        vec![emergency.kid.clone()]
    );
    for token in &before {
        assert_eq!(
            rejection(walk.app.state.keys.verify(token, now)),
            Rejection::UnknownKey,
            "tokens of withdrawn keys die at once"
        );
    }
    walk.live.clear();
    walk.unpublished_ok.push(emergency.kid.clone());
    walk.step(now, "emergency key").await;
    assert!(
        walk.states()
            .await
            .iter()
            .filter(|(kid, _)| *kid != emergency.kid)
            .all(|(_, state)| *state == KeyState::Withdrawn)
    );

    // And the schedule carries on from the emergency key.
    let kids = walk
        .step(now + ROTATION - PREPUBLISH, "next after emergency")
        .await;
    assert_eq!(kids.len(), 2);
    walk.step(now + ROTATION, "rotation after emergency").await;
    assert_eq!(walk.app.state.keys.signing_kid(), Some(kids[1].clone()));
}

#[tokio::test]
async fn every_algorithm_signs_tokens_that_verify_against_the_served_jwks() {
    for algorithm in [
        SigningAlgorithm::ES256,
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::RS256,
    ] {
        let app = TestApp::spawn_with(|c| c.keys.algorithm = algorithm).await;
        let now = app.state.clock.now();
        let token = app.state.keys.sign(&claims(&app, now)).unwrap();
        let jwks = served_jwks(&app).await;
        let jwk = &jwks["keys"][0];
        let expected = mcp_authd::tokens::signing_key::algorithm_name(algorithm);
        assert_eq!(jwk["alg"], expected);
        assert_eq!(jwk["use"], "sig");
        assert!(jwk.get("d").is_none(), "no private member is published");
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().alg,
            expected.parse::<Algorithm>().unwrap()
        );
        let verified = verify_with_jwks(&jwks, &token, &app.base_url, now).unwrap();
        assert_eq!(verified["client_id"], "client-1");
        assert_eq!(verified["auth_time"], now - 10);
        assert_eq!(app.state.keys.verify(&token, now).unwrap(), {
            let mut c = claims(&app, now);
            c.jti = verified["jti"].as_str().unwrap().into();
            c
        });
    }
}

#[tokio::test]
async fn two_instances_racing_a_rotation_create_exactly_one_key_and_both_switch_to_it() {
    let clock_a = Clock::fixed(T0);
    let clock_b = Clock::fixed(T0);
    let a = TestApp::spawn_with_clock(clock_a.clone(), schedule).await;
    let b = TestApp::spawn_beside(&a, clock_b.clone(), schedule).await;
    let first = a.state.keys.signing_kid().unwrap();
    assert_eq!(
        b.state.keys.signing_kid(),
        Some(first.clone()),
        "b loaded a's key"
    );

    for clock in [&clock_a, &clock_b] {
        clock.advance(ROTATION - PREPUBLISH);
    }
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(a.state.keys.refresh(), b.state.keys.refresh());
        ra.unwrap();
        rb.unwrap();
    }
    let (ra, rb) = tokio::join!(
        a.state.keys.rotate(RotationKind::Prepublished),
        b.state.keys.rotate(RotationKind::Prepublished)
    );
    let rows = a.state.store.list_signing_keys().await.unwrap();
    assert_eq!(rows.len(), 2, "exactly one new key: {rows:?}");
    let second = rows[1].kid.clone();
    for outcome in [ra.unwrap(), rb.unwrap()] {
        assert!(
            matches!(outcome, RotationOutcome::AlreadyScheduled(ref k) if k.kid == second),
            "{outcome:?}"
        );
    }
    for app in [&a, &b] {
        assert_eq!(
            jwks_kids(&served_jwks(app).await),
            vec![first.clone(), second.clone()]
        );
        assert_eq!(app.state.keys.signing_kid(), Some(first.clone()));
    }

    for clock in [&clock_a, &clock_b] {
        clock.advance(PREPUBLISH);
    }
    let (ra, rb) = tokio::join!(a.state.keys.refresh(), b.state.keys.refresh());
    ra.unwrap();
    rb.unwrap();
    let now = clock_a.now();
    for (signer, other) in [(&a, &b), (&b, &a)] {
        assert_eq!(signer.state.keys.signing_kid(), Some(second.clone()));
        let token = signer.state.keys.sign(&claims(signer, now)).unwrap();
        assert_eq!(kid_of(&token), second);
        let issuer = signer.base_url.clone();
        let jwks = served_jwks(other).await;
        verify_with_jwks(&jwks, &token, &issuer, now).unwrap();
    }
    assert_eq!(a.state.store.list_signing_keys().await.unwrap().len(), 2);

    // Two operators hitting the emergency path at once: both succeed, one after the other,
    // and exactly one key is left standing, on both instances.
    let (ra, rb) = tokio::join!(
        a.state.keys.rotate(RotationKind::Immediate),
        b.state.keys.rotate(RotationKind::Immediate)
    );
    ra.unwrap();
    rb.unwrap();
    let now = clock_a.now();
    let standing: Vec<String> = a
        .state
        .store
        .published_signing_keys(now)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(standing.len(), 1, "{standing:?}");
    let (ra, rb) = tokio::join!(a.state.keys.refresh(), b.state.keys.refresh());
    ra.unwrap();
    rb.unwrap();
    for app in [&a, &b] {
        assert_eq!(app.state.keys.signing_kid().as_ref(), standing.first());
        assert_eq!(jwks_kids(&served_jwks(app).await), standing);
    }
}

#[tokio::test]
async fn instances_starting_together_on_an_empty_database_create_one_first_key() {
    for _ in 0..5 {
        let db = TestDb::new().await;
        let mut config = test_config(&db);
        schedule(&mut config);
        let clock = Clock::fixed(T0);
        let stores = [
            db.store().await,
            db.store().await,
            db.store().await,
            db.store().await,
        ];
        let load = |i: usize| Keys::load(&stores[i], &config, &clock);
        let (k0, k1, k2, k3) = tokio::join!(load(0), load(1), load(2), load(3));
        let kids: Vec<String> = [k0, k1, k2, k3]
            .into_iter()
            .map(|k| k.unwrap().signing_kid().unwrap())
            .collect();
        let rows = stores[0].list_signing_keys().await.unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert!(kids.iter().all(|k| *k == rows[0].kid), "{kids:?}");
    }
}

#[tokio::test]
async fn the_background_refresh_brings_an_emergency_key_to_every_instance() {
    let clock = Clock::fixed(T0);
    let a = TestApp::spawn_with_clock(clock.clone(), schedule).await;
    let b = TestApp::spawn_beside(&a, clock.clone(), schedule).await;
    // The same task `serve` runs every 10 s, here faster so the test is quick.
    let refresher = b
        .state
        .keys
        .spawn_refresher(Duration::from_millis(50))
        .await;
    let RotationOutcome::Replaced(new) =
        a.state.keys.rotate(RotationKind::Immediate).await.unwrap()
    else {
        panic!("expected a replacement")
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while b.state.keys.signing_kid() != Some(new.kid.clone()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "b never picked up the new key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(jwks_kids(&served_jwks(&b).await), vec![new.kid.clone()]);
    refresher.abort();
}

/// The key a rotation of `kind` published or switched to.
async fn rotated(app: &TestApp, kind: RotationKind) -> KeyInfo {
    match app.state.keys.rotate(kind).await.unwrap() {
        RotationOutcome::Scheduled(key)
        | RotationOutcome::Replaced(key)
        | RotationOutcome::Switched(key) => key,
        other => panic!("{kind:?} did not rotate: {other:?}"),
    }
}

/// Waits until `app` signs with `kid`, failing after a bound far above any poll interval.
async fn until_signing_with(app: &TestApp, kid: &str, why: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.state.keys.signing_kid().as_deref() != Some(kid) {
        assert!(tokio::time::Instant::now() < deadline, "{why}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_key_change_reaches_every_instance_by_notification_on_postgres_and_by_the_poll_on_sqlite()
{
    let clock = Clock::fixed(T0);
    let a = TestApp::spawn_with_clock(clock.clone(), schedule).await;
    let b = TestApp::spawn_beside(&a, clock.clone(), schedule).await;
    // On PostgreSQL, poll so rarely that only the notification can bring the change in time;
    // on SQLite, the interval `serve` uses.
    let poll = if b.state.store.announces_key_changes() {
        Duration::from_secs(3_600)
    } else {
        b.state.keys.poll_interval()
    };
    let refresher = b.state.keys.spawn_refresher(poll).await;

    let emergency = rotated(&a, RotationKind::Immediate).await;
    until_signing_with(&b, &emergency.kid, "b never picked up the emergency key").await;
    assert_eq!(
        jwks_kids(&served_jwks(&b).await),
        vec![emergency.kid.clone()],
        "b publishes no withdrawn key"
    );

    let switched = rotated(&a, RotationKind::ImmediateKeepingOld).await;
    until_signing_with(&b, &switched.kid, "b never picked up the switched key").await;
    assert_eq!(
        jwks_kids(&served_jwks(&b).await),
        vec![emergency.kid, switched.kid]
    );
    refresher.abort();
}

#[tokio::test]
async fn an_immediate_switch_keeping_the_old_keys_signs_at_once_and_disturbs_no_token() {
    let clock = Clock::fixed(T0);
    let app = TestApp::spawn_with_clock(clock.clone(), schedule).await;
    let first = app.state.keys.signing_kid().unwrap();
    let old_token = app.state.keys.sign(&claims(&app, T0)).unwrap();
    let pending = rotated(&app, RotationKind::Prepublished).await;

    clock.advance(60);
    let new = rotated(&app, RotationKind::ImmediateKeepingOld).await;
    let now = clock.now();
    assert_eq!(new.state, KeyState::Active);
    assert_eq!(app.state.keys.signing_kid(), Some(new.kid.clone()));
    let jwks = served_jwks(&app).await;
    assert_eq!(
        jwks_kids(&jwks),
        vec![first.clone(), new.kid.clone()],
        "the old key stays published; the never-used pending key {} leaves",
        pending.kid
    );
    verify_with_jwks(&jwks, &old_token, &app.base_url, now).expect("old tokens still verify");
    app.state.keys.verify(&old_token, now).unwrap();
    let fresh = app.state.keys.sign(&claims(&app, now)).unwrap();
    assert_eq!(kid_of(&fresh), new.kid);

    // Once every token the old key signed has expired, it leaves the JWKS.
    clock.advance(TTL + MARGIN);
    app.state.keys.refresh().await.unwrap();
    assert_eq!(jwks_kids(&served_jwks(&app).await), vec![new.kid]);
}

#[tokio::test]
async fn forged_and_invalid_tokens_are_refused() {
    let clock = Clock::fixed(T0);
    let app = TestApp::spawn_with_clock(clock.clone(), schedule).await;
    let keys = &app.state.keys;
    let good = keys.sign(&claims(&app, T0)).unwrap();
    assert!(keys.verify(&good, T0).is_ok());
    let kid = kid_of(&good);
    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let payload = parts[1];

    // alg none, with and without a signature part.
    let none = b64(&serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid}));
    assert!(keys.verify(&format!("{none}.{payload}."), T0).is_err());
    assert!(
        keys.verify(&format!("{none}.{payload}.{}", parts[2]), T0)
            .is_err()
    );

    // HS256 keyed with the public key, in each form an attacker might try.
    let jwks = served_jwks(&app).await;
    let public_jwk = jwks["keys"][0].to_string();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let raw_x = URL_SAFE_NO_PAD.decode(&x).unwrap();
    for secret in [public_jwk.as_bytes(), x.as_bytes(), raw_x.as_slice()] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        let forged = jsonwebtoken::encode(
            &header,
            &claims(&app, T0),
            &EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(rejection(keys.verify(&forged, T0)), Rejection::Algorithm);
    }

    // A well-formed token from a key that was never published.
    let stranger = KeyMaterial::generate(SigningAlgorithm::ES256).unwrap();
    let foreign = stranger
        .material
        .sign(&serde_json::to_vec(&claims(&app, T0)).unwrap())
        .unwrap();
    assert_eq!(rejection(keys.verify(&foreign, T0)), Rejection::UnknownKey);
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    let no_kid = jsonwebtoken::encode(
        &header,
        &claims(&app, T0),
        &EncodingKey::from_ec_der(&stranger.pkcs8),
    )
    .unwrap();
    assert_eq!(rejection(keys.verify(&no_kid, T0)), Rejection::UnknownKey);

    // Signed with the real private key, but typ JWT (an ID token or other JWT, not RFC 9068).
    let rows = app.state.store.list_signing_keys().await.unwrap();
    let kek = KeyEncryptionKey::from_bytes(
        &STANDARD.decode(ENCRYPTION_KEY).unwrap().try_into().unwrap(),
        KeySource::Configured,
    );
    let pkcs8 = kek.open(&rows[0].kid, &rows[0].private_key).unwrap();
    let real_key = EncodingKey::from_ec_der(&pkcs8);
    let with_typ = |typ: Option<&str>| {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = typ.map(str::to_owned);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, &claims(&app, T0), &real_key).unwrap()
    };
    assert_eq!(
        rejection(keys.verify(&with_typ(Some("JWT")), T0)),
        Rejection::Type
    );
    assert_eq!(rejection(keys.verify(&with_typ(None), T0)), Rejection::Type);
    assert!(
        keys.verify(&with_typ(Some("application/at+jwt")), T0)
            .is_ok()
    );

    // Expired: exp is the first second it is no longer valid.
    let mut expiring = claims(&app, T0);
    expiring.exp = T0 + 5;
    let short = keys.sign(&expiring).unwrap();
    assert!(keys.verify(&short, T0 + 4).is_ok());
    assert_eq!(rejection(keys.verify(&short, T0 + 5)), Rejection::Expired);

    // Another issuer's claims under our key.
    let mut elsewhere = claims(&app, T0);
    elsewhere.iss = "https://evil.example".into();
    let wrong_iss = keys.sign(&elsewhere).unwrap();
    assert_eq!(rejection(keys.verify(&wrong_iss, T0)), Rejection::Issuer);

    // A changed payload breaks the signature.
    let mut altered = claims(&app, T0);
    altered.scope = "mcp:admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&altered).unwrap()),
        parts[2]
    );
    assert_eq!(rejection(keys.verify(&tampered, T0)), Rejection::Signature);

    assert_eq!(
        rejection(keys.verify("not a token", T0)),
        Rejection::Malformed
    );
    assert!(
        keys.verify(&good, T0).is_ok(),
        "the genuine token still verifies"
    );
}

#[tokio::test]
async fn private_keys_are_sealed_and_a_wrong_encryption_key_stops_the_start_clearly() {
    let clock = Clock::fixed(T0);
    let app = TestApp::spawn_with_clock(clock.clone(), schedule).await;
    let rows = app.state.store.list_signing_keys().await.unwrap();
    let row = &rows[0];
    let kek = KeyEncryptionKey::from_bytes(
        &STANDARD.decode(ENCRYPTION_KEY).unwrap().try_into().unwrap(),
        KeySource::Configured,
    );
    let pkcs8 = kek.open(&row.kid, &row.private_key).unwrap();
    assert!(row.private_key.starts_with("v1:"));
    let stored = STANDARD.decode(&row.private_key[3..]).unwrap();
    assert!(
        !stored.windows(pkcs8.len()).any(|w| w == pkcs8.as_slice()),
        "the plaintext DER is not stored"
    );
    assert!(!row.private_key.contains(&STANDARD.encode(&pkcs8)));
    assert!(
        !format!("{row:?}").contains(&row.private_key),
        "Debug hides it"
    );

    let mut wrong = test_config(&app.db);
    schedule(&mut wrong);
    wrong.keys.encryption_key = Some(Secret::new(STANDARD.encode([9u8; 32])));
    let error = Keys::load(&app.state.store, &wrong, &clock)
        .await
        .unwrap_err();
    assert!(matches!(error, KeyError::Decrypt { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&row.kid), "{message}");
    assert!(
        message.contains("same keys.encryption_key"),
        "the message says what to fix: {message}"
    );
    let started = mcp_authd::server::build_state(wrong, clock.clone()).await;
    assert!(
        format!("{:#}", started.unwrap_err()).contains("same keys.encryption_key"),
        "the server refuses to start"
    );
    assert_eq!(
        app.state.store.list_signing_keys().await.unwrap().len(),
        1,
        "the failed instance wrote nothing"
    );
}

#[tokio::test]
async fn without_an_encryption_key_a_private_key_file_is_generated_and_a_second_instance_is_told() {
    let clock = Clock::fixed(T0);
    let a = TestApp::spawn_with_clock(clock.clone(), |c| c.keys.encryption_key = None).await;
    let file =
        a.db.dir
            .path()
            .join(mcp_authd::tokens::key_encryption::KEY_FILE_NAME);
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Another instance with its own data directory generates its own file and cannot open
    // the keys; the message points at the key file and the setting that fixes it.
    let other_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&a.db);
    config.data_dir = other_dir.path().to_path_buf();
    let error = Keys::load(&a.state.store, &config, &clock)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("key-encryption.key"), "{error}");
    assert!(error.contains("same keys.encryption_key"), "{error}");

    // With the first file's contents configured, it works.
    config.keys.encryption_key = Some(Secret::new(text.trim()));
    let keyring = Keys::load(&a.state.store, &config, &clock).await.unwrap();
    assert_eq!(keyring.signing_kid(), a.state.keys.signing_kid());
}
