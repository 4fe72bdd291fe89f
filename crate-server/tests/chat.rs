//! `/chat` with the JSON protocol and with plain clients: rooms, presence, history, resume,
//! events, and every error envelope. Real server on a loopback port, tokio-tungstenite
//! clients.

mod common;

use common::chat::ChatClient;
use ferrosocket_wire::chat::{ErrorCode, PresenceChange, RoomInfo, ServerEnvelope};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

fn error_code(envelope: &ServerEnvelope) -> ErrorCode {
    match envelope {
        ServerEnvelope::Error { code, .. } => *code,
        other => panic!("expected an error envelope, got {other:?}"),
    }
}

#[tokio::test]
async fn a_protocol_client_is_welcomed_into_the_lobby() {
    let addr = common::start_with(|_| {}).await;
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}/chat"
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "chat.v1".parse().unwrap());
    let (mut ws, _) = connect_async(request).await.unwrap();
    let welcome: ServerEnvelope =
        serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    let ServerEnvelope::Welcome {
        nick,
        history_limit,
        rate_limit,
        epoch,
        rate_burst,
        session,
        ..
    } = welcome
    else {
        panic!("{welcome:?}")
    };
    assert!(nick.starts_with("guest-"), "{nick}");
    assert_eq!((history_limit, rate_limit), (100, 20));
    assert_eq!(epoch.len(), 16);
    assert_eq!(rate_burst, 40);
    assert!(!session.is_empty());
    let joined: ServerEnvelope =
        serde_json::from_str(ws.next().await.unwrap().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(
        joined,
        ServerEnvelope::Joined {
            room: "lobby".into(),
            members: vec![nick],
            history: vec![]
        }
    );
}

#[tokio::test]
async fn nicknames_are_validated_unique_and_announced() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    let mut bob = ChatClient::connect(addr).await;
    assert!(matches!(
        ada.recv().await,
        ServerEnvelope::Presence {
            change: PresenceChange::Join,
            ..
        }
    ));

    bob.send(json!({"type": "nick", "nick": "ada"})).await;
    let taken = bob.recv().await;
    assert_eq!(error_code(&taken), ErrorCode::NickTaken);
    for bad in ["", "a b", "<script>", &"x".repeat(33)] {
        bob.send(json!({"type": "nick", "nick": bad})).await;
        let refused = bob.recv().await;
        assert_eq!(error_code(&refused), ErrorCode::InvalidNick, "{bad:?}");
    }
    let old = bob.nick.clone();
    bob.send(json!({"type": "nick", "nick": "bob"})).await;
    assert_eq!(
        bob.recv().await,
        ServerEnvelope::Nick { nick: "bob".into() }
    );
    assert_eq!(
        ada.recv().await,
        ServerEnvelope::Presence {
            room: "lobby".into(),
            change: PresenceChange::Rename,
            nick: "bob".into(),
            old_nick: Some(old),
        }
    );
}

#[tokio::test]
async fn rooms_are_joined_and_left_several_at_once_with_presence() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    let mut bob = ChatClient::named(addr, "bob").await;
    ada.send(json!({"type": "join", "rooms": ["rust", "wasm"]}))
        .await;
    for room in ["rust", "wasm"] {
        assert_eq!(
            ada.recv_skipping_presence().await,
            ServerEnvelope::Joined {
                room: room.into(),
                members: vec!["ada".into()],
                history: vec![]
            }
        );
    }
    bob.send(json!({"type": "join", "rooms": ["rust"]})).await;
    match bob.recv_skipping_presence().await {
        ServerEnvelope::Joined {
            room, mut members, ..
        } => {
            members.sort();
            assert_eq!(
                (room.as_str(), members),
                ("rust", vec!["ada".to_owned(), "bob".to_owned()])
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ada.recv_skipping_presence_in("lobby").await,
        ServerEnvelope::Presence {
            room: "rust".into(),
            change: PresenceChange::Join,
            nick: "bob".into(),
            old_nick: None
        }
    );

    bob.send(json!({"type": "list_rooms"})).await;
    assert_eq!(
        bob.recv().await,
        ServerEnvelope::Rooms {
            rooms: vec![
                RoomInfo {
                    name: "lobby".into(),
                    members: 2
                },
                RoomInfo {
                    name: "rust".into(),
                    members: 2
                },
                RoomInfo {
                    name: "wasm".into(),
                    members: 1
                },
            ]
        }
    );

    bob.send(json!({"type": "leave", "rooms": ["rust", "wasm"]}))
        .await;
    assert_eq!(
        bob.recv().await,
        ServerEnvelope::Left {
            room: "rust".into()
        }
    );
    let refused = bob.recv().await;
    assert_eq!(error_code(&refused), ErrorCode::NotJoined);
    assert_eq!(
        ada.recv().await,
        ServerEnvelope::Presence {
            room: "rust".into(),
            change: PresenceChange::Leave,
            nick: "bob".into(),
            old_nick: None
        }
    );

    // A disconnect is a leave from every room.
    drop(bob);
    assert_eq!(
        ada.recv().await,
        ServerEnvelope::Presence {
            room: "lobby".into(),
            change: PresenceChange::Leave,
            nick: "bob".into(),
            old_nick: None
        }
    );
}

#[tokio::test]
async fn a_message_reaches_every_other_member_and_is_acknowledged_to_the_sender() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    let mut bob = ChatClient::named(addr, "bob").await;
    let mut eve = ChatClient::named(addr, "eve").await;
    for client in [&mut ada, &mut bob] {
        client
            .send(json!({"type": "join", "rooms": ["rust"]}))
            .await;
        assert!(matches!(
            client.recv_skipping_presence().await,
            ServerEnvelope::Joined { .. }
        ));
    }
    eve.send(json!({"type": "join", "rooms": ["other"]})).await;
    assert!(matches!(
        eve.recv_skipping_presence().await,
        ServerEnvelope::Joined { .. }
    ));
    ada.sync().await;

    for (i, text) in ["first", "second <b>", "third"].iter().enumerate() {
        ada.send(json!({"type": "send", "room": "rust", "text": text, "id": format!("m{i}")}))
            .await;
        assert_eq!(
            ada.recv().await,
            ServerEnvelope::Ack {
                id: Some(format!("m{i}")),
                room: "rust".into(),
                seq: i as u64 + 1
            }
        );
        match bob.recv_skipping_presence().await {
            ServerEnvelope::Message {
                room,
                seq,
                from,
                text: got,
                ts,
                id,
            } => {
                assert_eq!(
                    (room.as_str(), seq, from.as_str(), got.as_str()),
                    ("rust", i as u64 + 1, "ada", *text)
                );
                assert_eq!(id, None, "a sender's key is never shown to other members");
                assert!(ts > 1_600_000_000_000);
            }
            other => panic!("{other:?}"),
        }
    }
    // The sender gets no copy; a member of another room gets nothing.
    ada.sync().await;
    eve.sync().await;
    eve.expect_silence(100).await;
}

#[tokio::test]
async fn a_repeated_send_id_is_acknowledged_again_but_delivered_once() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    let mut bob = ChatClient::named(addr, "bob").await;
    ada.sync().await;
    for _ in 0..2 {
        ada.send(json!({"type": "send", "room": "lobby", "text": "once", "id": "k-1"}))
            .await;
        assert_eq!(
            ada.recv().await,
            ServerEnvelope::Ack {
                id: Some("k-1".into()),
                room: "lobby".into(),
                seq: 1
            }
        );
    }
    assert!(matches!(
        bob.recv_skipping_presence().await,
        ServerEnvelope::Message { seq: 1, .. }
    ));
    bob.sync().await;
    bob.expect_silence(100).await;
}

#[tokio::test]
async fn joining_shows_the_last_messages_and_resume_replays_exactly_what_was_missed() {
    let addr = common::start_with(|config| config.history = 3).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    for i in 1..=5 {
        ada.send(json!({"type": "send", "room": "lobby", "text": format!("m{i}")}))
            .await;
        assert!(matches!(ada.recv().await, ServerEnvelope::Ack { .. }));
    }
    let mut bob = ChatClient::connect(addr).await;
    bob.send(json!({"type": "join", "rooms": ["lobby"]})).await;
    match bob.recv().await {
        ServerEnvelope::Joined { history, .. } => {
            let seen: Vec<(u64, &str)> = history.iter().map(|m| (m.seq, m.text.as_str())).collect();
            assert_eq!(seen, [(3, "m3"), (4, "m4"), (5, "m5")]);
        }
        other => panic!("{other:?}"),
    }

    // Missed 4 and 5: replayed in order, then `resumed` (complete).
    let mut carol = ChatClient::connect(addr).await;
    carol
        .send(json!({"type": "resume", "room": "lobby", "after_seq": 3}))
        .await;
    let mut replayed = Vec::new();
    loop {
        match carol.recv_skipping_presence().await {
            ServerEnvelope::Message { seq, text, .. } => replayed.push((seq, text)),
            ServerEnvelope::Resumed {
                room,
                last_seq,
                complete,
            } => {
                assert_eq!((room.as_str(), last_seq, complete), ("lobby", 5, true));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(replayed, [(4, "m4".to_owned()), (5, "m5".to_owned())]);

    // Resuming into a room not joined yet joins it; a gap older than the history says so.
    carol
        .send(json!({"type": "resume", "room": "lobby", "after_seq": 1}))
        .await;
    let mut seqs = Vec::new();
    loop {
        match carol.recv_skipping_presence().await {
            ServerEnvelope::Message { seq, .. } => seqs.push(seq),
            ServerEnvelope::Resumed { complete, .. } => {
                assert!(!complete, "messages 2 is gone from a 3-message history");
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seqs, [3, 4, 5]);
    carol
        .send(json!({"type": "resume", "room": "fresh", "after_seq": 0}))
        .await;
    assert!(matches!(
        carol.recv().await,
        ServerEnvelope::Resumed {
            last_seq: 0,
            complete: true,
            ..
        }
    ));
    carol
        .send(json!({"type": "send", "room": "fresh", "text": "in fresh"}))
        .await;
    assert!(matches!(
        carol.recv().await,
        ServerEnvelope::Ack { seq: 1, .. }
    ));
}

#[tokio::test]
async fn events_reach_other_members_and_are_acknowledged_on_request() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    let mut bob = ChatClient::named(addr, "bob").await;
    ada.sync().await;
    ada.send(
        json!({"type": "emit", "room": "lobby", "event": "typing", "data": {"on": true}, "ack": 7}),
    )
    .await;
    assert_eq!(ada.recv().await, ServerEnvelope::EventAck { ack: 7 });
    assert_eq!(
        bob.recv_skipping_presence().await,
        ServerEnvelope::Event {
            room: "lobby".into(),
            event: "typing".into(),
            from: "ada".into(),
            data: json!({"on": true}).into()
        }
    );
    ada.send(json!({"type": "emit", "room": "nowhere", "event": "x", "ack": 8}))
        .await;
    match ada.recv().await {
        ServerEnvelope::Error {
            code, reference, ..
        } => {
            assert_eq!(
                (code, reference.as_deref()),
                (ErrorCode::NotJoined, Some("8"))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_bad_envelope_gets_an_error_naming_the_problem_and_the_connection_goes_on() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    let cases: &[(&str, ErrorCode, &str)] = &[
        ("{not json", ErrorCode::InvalidJson, "not valid JSON"),
        ("[1, 2]", ErrorCode::InvalidJson, "object"),
        (r#"{"room": "lobby"}"#, ErrorCode::MissingField, "`type`"),
        (r#"{"type": "shout"}"#, ErrorCode::UnknownType, "\"shout\""),
        (r#"{"type": 5}"#, ErrorCode::InvalidField, "`type`"),
        (
            r#"{"type": "send", "room": "lobby"}"#,
            ErrorCode::MissingField,
            "`text`",
        ),
        (
            r#"{"type": "send", "room": "lobby", "text": 5}"#,
            ErrorCode::InvalidField,
            "string",
        ),
        (
            r#"{"type": "send", "room": "elsewhere", "text": "x"}"#,
            ErrorCode::NotJoined,
            "\"elsewhere\"",
        ),
        (
            r#"{"type": "join", "rooms": ["bad room!"]}"#,
            ErrorCode::InvalidRoom,
            "' '",
        ),
        (
            r#"{"type": "join", "rooms": [""]}"#,
            ErrorCode::InvalidRoom,
            "empty",
        ),
        (
            r#"{"type": "leave", "rooms": ["never"]}"#,
            ErrorCode::NotJoined,
            "\"never\"",
        ),
        (
            r#"{"type": "resume", "room": "lobby", "after_seq": -1}"#,
            ErrorCode::InvalidField,
            "after_seq",
        ),
    ];
    for (input, code, mentions) in cases {
        ada.send_raw(input).await;
        match ada.recv().await {
            ServerEnvelope::Error {
                code: got, message, ..
            } => {
                assert_eq!(got, *code, "{input}: {message}");
                assert!(
                    message.contains(mentions),
                    "{input}: {message:?} should mention {mentions}"
                );
            }
            other => panic!("{input}: expected an error, got {other:?}"),
        }
    }
    ada.ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(error_code(&ada.recv().await), ErrorCode::BinaryNotSupported);
    // Still connected and served.
    ada.sync().await;
}

impl ChatClient {
    /// The next envelope, skipping presence notices about `room`.
    async fn recv_skipping_presence_in(&mut self, room: &str) -> ServerEnvelope {
        loop {
            match self.recv().await {
                ServerEnvelope::Presence { room: r, .. } if r == room => continue,
                other => return other,
            }
        }
    }
}

#[tokio::test]
async fn plain_and_protocol_clients_meet_in_the_lobby() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    let (mut plain, response) = connect_async(format!("ws://{addr}/chat")).await.unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    let plain_nick = match ada.recv().await {
        ServerEnvelope::Presence {
            change: PresenceChange::Join,
            nick,
            ..
        } => nick,
        other => panic!("{other:?}"),
    };

    plain.send(Message::text("hello from plain")).await.unwrap();
    // The plain client sees its own line, as a classic onmessage page expects.
    assert_eq!(
        plain.next().await.unwrap().unwrap(),
        Message::text(format!("{plain_nick}: hello from plain"))
    );
    match ada.recv().await {
        ServerEnvelope::Message {
            room, from, text, ..
        } => {
            assert_eq!(
                (room.as_str(), from.as_str(), text.as_str()),
                ("lobby", plain_nick.as_str(), "hello from plain")
            );
        }
        other => panic!("{other:?}"),
    }

    ada.send(json!({"type": "send", "room": "lobby", "text": "hi plain"}))
        .await;
    assert!(matches!(ada.recv().await, ServerEnvelope::Ack { .. }));
    assert_eq!(
        plain.next().await.unwrap().unwrap(),
        Message::text("ada: hi plain")
    );

    // Binary means nothing to the plain chat: closed with 1003.
    plain.send(Message::binary(vec![0])).await.unwrap();
    loop {
        match plain.next().await.unwrap().unwrap() {
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 1003);
                break;
            }
            _ => continue,
        }
    }
}

#[tokio::test]
async fn room_limits_per_connection_and_per_server_are_explained() {
    let addr = common::start_with(|config| {
        config.max_rooms_per_connection = 2;
        config.max_rooms = 3;
        config.max_room_len = 8;
    })
    .await;
    let mut ada = ChatClient::named(addr, "ada").await;
    // The lobby counts: one more room fits for this connection.
    ada.send(json!({"type": "join", "rooms": ["one", "two"]}))
        .await;
    assert!(matches!(ada.recv().await, ServerEnvelope::Joined { .. }));
    match ada.recv().await {
        ServerEnvelope::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::TooManyRooms);
            assert!(message.contains("2 rooms"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let mut bob = ChatClient::named(addr, "bob").await;
    bob.send(json!({"type": "join", "rooms": ["three", "four"]}))
        .await;
    assert!(matches!(bob.recv().await, ServerEnvelope::Joined { .. }));
    let refused = bob.recv().await;
    assert_eq!(error_code(&refused), ErrorCode::TooManyRooms);
    bob.send(json!({"type": "join", "rooms": ["ninechars"]}))
        .await;
    match bob.recv().await {
        ServerEnvelope::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::InvalidRoom);
            assert!(message.contains("longer than 8"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_resume_from_another_epoch_replays_from_the_beginning() {
    let addr = common::start_with(|_| {}).await;
    let mut ada = ChatClient::named(addr, "ada").await;
    for text in ["one", "two"] {
        ada.send(json!({"type": "send", "room": "lobby", "text": text}))
            .await;
        assert!(matches!(ada.recv().await, ServerEnvelope::Ack { .. }));
    }
    let mut bob = ChatClient::connect(addr).await;
    // Numbers seen under an older server run are meaningless here.
    bob.send(
        json!({"type": "resume", "room": "lobby", "after_seq": 7, "epoch": "0000000000000000"}),
    )
    .await;
    let mut texts = Vec::new();
    loop {
        match bob.recv_skipping_presence().await {
            ServerEnvelope::Message { text, .. } => texts.push(text),
            ServerEnvelope::Resumed { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(texts, ["one", "two"]);
}

#[tokio::test]
async fn every_room_of_a_join_costs_a_rate_token() {
    let addr = common::start_with(|config| {
        config.rate_limit = 1;
        config.rate_burst = 12;
    })
    .await;
    let mut ada = ChatClient::connect(addr).await;
    // Twelve tokens: the join takes one for itself and nine for its other rooms, so of the
    // four pings that follow at most two can pass (three if a second goes by meanwhile).
    // Were a join charged as one envelope, all four would pass.
    let rooms: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    ada.send(json!({"type": "join", "rooms": rooms})).await;
    for i in 0..4 {
        ada.send(json!({"type": "ping", "id": format!("p{i}")}))
            .await;
    }
    let (mut joined, mut pongs, mut refused) = (0, 0, 0);
    while joined + pongs + refused < 14 {
        match ada.recv().await {
            ServerEnvelope::Joined { .. } => joined += 1,
            ServerEnvelope::Pong { .. } => pongs += 1,
            ServerEnvelope::Error {
                code: ErrorCode::RateLimited,
                ..
            } => refused += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(joined, 10, "the join is paced, never refused");
    assert!(
        refused >= 1,
        "{pongs} pings passed: the join's rooms cost nothing"
    );
}
