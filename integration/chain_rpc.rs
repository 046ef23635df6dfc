//! The embedded node's JSON-RPC server, driven by our client, by raw HTTP and by an
//! independent bitcoind client library: fields and codes as Bitcoin Core prints them, auth,
//! framing, limits, and a full mine/send/confirm/reject cycle.

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bitcoin::consensus::serialize;
use bitcoin::{absolute, Amount, OutPoint, Sequence, Transaction, TxOut};
use chanhub::chain::regtest::RegtestNode;
use chanhub::chain::rpc_client::{RpcAuth, RpcChainSource};
use chanhub::chain::rpc_server::{RpcAuthConfig, RpcServer, RpcServerOptions};
use chanhub::chain::ChainError;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use support::{Served, Wallet, PASSWORD, USER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---- raw HTTP, to see exactly what goes over the wire ----

struct HttpReply {
    status: u16,
    head: String,
    body: String,
}

async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
    body: &[u8],
) -> HttpReply {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((u, p)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        head.push_str(&format!("Authorization: Basic {token}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may refuse (and close) before reading an oversized body: ignore write errors.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    HttpReply {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn post(addr: SocketAddr, body: &str) -> HttpReply {
    http(addr, "POST", "/", Some((USER, PASSWORD)), body.as_bytes()).await
}

/// A JSON object's members in the order they were written (serde_json's map sorts them).
struct Ordered(Vec<(String, Box<RawValue>)>);

impl Ordered {
    fn parse(text: &str) -> Ordered {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = m.next_entry::<String, Box<RawValue>>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        let mut de = serde_json::Deserializer::from_str(text);
        de.deserialize_map(V)
            .unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn raw(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.get())
            .unwrap_or_else(|| panic!("no {key}"))
    }

    fn get(&self, key: &str) -> Ordered {
        Ordered::parse(self.raw(key))
    }
}

/// The `result` of a call, as written.
async fn result_text(addr: SocketAddr, method: &str, params: Value) -> String {
    let body = json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params});
    let reply = post(addr, &body.to_string()).await;
    assert_eq!(reply.status, 200, "{method}: {}", reply.body);
    Ordered::parse(&reply.body).raw("result").to_owned()
}

/// The code and message of a failed call made with our client.
async fn error_of(src: &RpcChainSource, method: &str, params: Value) -> (i64, String) {
    match src.call(method, params).await {
        Err(ChainError::Permanent(m)) => {
            let (text, code) = m.rsplit_once(" (").expect("message (code)");
            let code = code.trim_end_matches(')').parse().expect("code");
            let text = text
                .strip_prefix(&format!("{method}: "))
                .unwrap_or(text)
                .to_owned();
            (code, text)
        }
        other => panic!("{method}: expected an error, got {other:?}"),
    }
}

fn hex_of(tx: &Transaction) -> String {
    hex::encode(serialize(tx))
}

const SCRIPT_PUBKEY: &[&str] = &["asm", "desc", "hex", "address", "type"];
const HEADER: &[&str] = &[
    "hash",
    "confirmations",
    "height",
    "version",
    "versionHex",
    "merkleroot",
    "time",
    "mediantime",
    "nonce",
    "bits",
    "target",
    "difficulty",
    "chainwork",
    "nTx",
    "previousblockhash",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_with_cores_fields_and_codes() {
    let s = Served::start().await;
    let addr = s.server.addr();
    let rpc = s.client();
    let wallet = Wallet::new(3);
    let w = wallet.address.to_string();

    // Mining.
    let hashes = rpc
        .call("generatetoaddress", json!([101, w]))
        .await
        .unwrap();
    assert_eq!(hashes.as_array().unwrap().len(), 101);
    let typed = rpc.generate_to_address(1, &wallet.address).await.unwrap();
    assert_eq!(
        rpc.call("getblockcount", json!([])).await.unwrap(),
        json!(102)
    );
    assert_eq!(
        rpc.call("getbestblockhash", json!([])).await.unwrap(),
        json!(typed[0].to_string())
    );
    assert_eq!(
        error_of(&rpc, "generatetoaddress", json!([1, "bc1qnotregtest"])).await,
        (-5, "Error: Invalid address".into())
    );

    // getblockchaininfo, exactly Core's members in Core's order.
    let info = Ordered::parse(&result_text(addr, "getblockchaininfo", json!([])).await);
    assert_eq!(
        info.keys(),
        [
            "chain",
            "blocks",
            "headers",
            "bestblockhash",
            "bits",
            "target",
            "difficulty",
            "time",
            "mediantime",
            "verificationprogress",
            "initialblockdownload",
            "chainwork",
            "size_on_disk",
            "pruned",
            "warnings"
        ]
    );
    assert_eq!(info.raw("chain"), "\"regtest\"");
    assert_eq!(info.raw("blocks"), "102");
    assert_eq!(info.raw("difficulty"), "4.656542373906925e-10");
    assert_eq!(info.raw("verificationprogress"), "1");
    assert_eq!(info.raw("initialblockdownload"), "false");
    assert_eq!(info.raw("warnings"), "[]");
    let work: String = serde_json::from_str(info.raw("chainwork")).unwrap();
    // 103 blocks at regtest's 2 work each.
    assert_eq!(work, format!("{:064x}", 103 * 2));

    let net = rpc.call("getnetworkinfo", json!([])).await.unwrap();
    assert!(net["version"].as_u64().unwrap() >= 190_000);
    assert_eq!(net["relayfee"], json!(0.00001));
    assert!(net["networks"].is_array() && net["localaddresses"].is_array());

    // getblockhash / getblockheader.
    let h1 = rpc.call("getblockhash", json!([1])).await.unwrap();
    assert_eq!(
        error_of(&rpc, "getblockhash", json!([103])).await,
        (-8, "Block height out of range".into())
    );
    assert_eq!(error_of(&rpc, "getblockhash", json!(["1"])).await.0, -3);
    let header = Ordered::parse(&result_text(addr, "getblockheader", json!([h1])).await);
    let mut expected = HEADER.to_vec();
    expected.push("nextblockhash");
    assert_eq!(header.keys(), expected);
    assert_eq!(header.raw("confirmations"), "102");
    assert_eq!(header.raw("versionHex"), "\"20000000\"");
    assert_eq!(header.raw("bits"), "\"207fffff\"");
    let hex_header = rpc
        .call("getblockheader", json!([h1, false]))
        .await
        .unwrap();
    assert_eq!(hex_header.as_str().unwrap().len(), 160);
    let zeros = "00".repeat(32);
    assert_eq!(
        error_of(&rpc, "getblockheader", json!([zeros])).await,
        (-5, "Block not found".into())
    );
    assert_eq!(
        error_of(&rpc, "getblockheader", json!(["xyz"])).await,
        (-8, "hash must be of length 64 (not 3, for 'xyz')".into())
    );

    // getblock at every verbosity.
    let raw_block = rpc.call("getblock", json!([h1, 0])).await.unwrap();
    let block: bitcoin::Block =
        bitcoin::consensus::deserialize(&hex::decode(raw_block.as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(block.block_hash().to_string(), h1.as_str().unwrap());
    let b1 = Ordered::parse(&result_text(addr, "getblock", json!([h1, 1])).await);
    let mut expected = HEADER.to_vec();
    expected.extend([
        "nextblockhash",
        "strippedsize",
        "size",
        "weight",
        "coinbase_tx",
        "tx",
    ]);
    assert_eq!(b1.keys(), expected);
    assert_eq!(
        b1.get("coinbase_tx").keys(),
        ["version", "locktime", "sequence", "coinbase", "witness"]
    );
    let coinbase_txid = block.txdata[0].compute_txid();
    assert_eq!(b1.raw("tx"), format!("[\"{coinbase_txid}\"]"));
    let b2 = rpc.call("getblock", json!([h1, 2])).await.unwrap();
    let cb = &b2["tx"][0];
    assert_eq!(cb["vin"][0]["coinbase"].as_str().unwrap().len() % 2, 0);
    assert_eq!(cb["vout"][0]["value"], json!(50.0));
    assert_eq!(cb["vout"][0]["scriptPubKey"]["address"], json!(w));
    assert_eq!(
        cb["vout"][0]["scriptPubKey"]["type"],
        json!("witness_v0_keyhash")
    );
    let desc = cb["vout"][0]["scriptPubKey"]["desc"].as_str().unwrap();
    assert!(desc.starts_with(&format!("addr({w})#")) && desc.len() == w.len() + 6 + 9);
    assert_eq!(
        error_of(&rpc, "getblock", json!([zeros, 1])).await,
        (-5, "Block not found".into())
    );

    // A signed spend: sendrawtransaction, the mempool methods, testmempoolaccept.
    let coin = OutPoint::new(coinbase_txid, 0);
    let value = Amount::from_btc(50.0).unwrap();
    let tx = wallet.spend(coin, value, Amount::from_sat(2_000));
    let txid = tx.compute_txid();
    let accepted = rpc
        .call("testmempoolaccept", json!([[hex_of(&tx)]]))
        .await
        .unwrap();
    let t0 = &accepted[0];
    assert_eq!(t0["allowed"], json!(true));
    assert_eq!(t0["txid"], json!(txid.to_string()));
    assert_eq!(t0["wtxid"], json!(tx.compute_wtxid().to_string()));
    assert_eq!(t0["vsize"], json!(tx.vsize()));
    assert_eq!(t0["fees"]["base"], json!(0.00002));
    let sent = rpc
        .call("sendrawtransaction", json!([hex_of(&tx), 0.1]))
        .await
        .unwrap();
    assert_eq!(sent, json!(txid.to_string()));
    let pool = rpc.call("getrawmempool", json!([])).await.unwrap();
    assert_eq!(pool, json!([txid.to_string()]));
    let verbose = Ordered::parse(&result_text(addr, "getrawmempool", json!([true])).await);
    assert_eq!(verbose.keys(), [txid.to_string().as_str()]);
    let entry = Ordered::parse(&result_text(addr, "getmempoolentry", json!([txid])).await);
    assert_eq!(
        entry.keys(),
        [
            "vsize",
            "weight",
            "time",
            "height",
            "descendantcount",
            "descendantsize",
            "ancestorcount",
            "ancestorsize",
            "wtxid",
            "fees",
            "depends",
            "spentby",
            "bip125-replaceable",
            "unbroadcast"
        ]
    );
    assert_eq!(
        entry.get("fees").keys(),
        ["base", "modified", "ancestor", "descendant"]
    );
    assert_eq!(entry.get("fees").raw("base"), "0.00002000");
    assert_eq!(entry.raw("height"), "102");
    assert_eq!(
        error_of(&rpc, "getmempoolentry", json!([zeros])).await,
        (-5, "Transaction not in mempool".into())
    );
    let mi = Ordered::parse(&result_text(addr, "getmempoolinfo", json!([])).await);
    assert_eq!(
        &mi.keys()[..5],
        ["loaded", "size", "bytes", "usage", "total_fee"]
    );
    assert_eq!(mi.raw("size"), "1");
    assert_eq!(mi.raw("bytes"), tx.vsize().to_string());
    assert_eq!(mi.raw("total_fee"), "0.00002000");
    assert_eq!(mi.raw("minrelaytxfee"), "0.00001000");

    // gettxspendingprevout: Core's fields, spendingtxid only for an output the mempool spends.
    let spending = result_text(
        addr,
        "gettxspendingprevout",
        json!([[{"txid": coinbase_txid, "vout": 0}, {"txid": txid, "vout": 0}]]),
    )
    .await;
    assert_eq!(
        spending,
        format!(
            "[{{\"txid\":\"{coinbase_txid}\",\"vout\":0,\"spendingtxid\":\"{txid}\"}},\
             {{\"txid\":\"{txid}\",\"vout\":0}}]"
        )
    );
    for (params, expected) in [
        (
            json!([[]]),
            (-8, "Invalid parameter, outputs are missing".to_string()),
        ),
        (json!([[{"txid": txid}]]), (-3, "Missing vout".into())),
        (
            json!([[{"txid": txid, "vout": -1}]]),
            (-8, "Invalid parameter, vout cannot be negative".into()),
        ),
        (
            json!([[{"txid": txid, "vout": 0, "x": 1}]]),
            (-3, "Unexpected key x".into()),
        ),
        (
            json!([[{"txid": "xyz", "vout": 0}]]),
            (-8, "txid must be of length 64 (not 3, for 'xyz')".into()),
        ),
    ] {
        assert_eq!(
            error_of(&rpc, "gettxspendingprevout", params).await,
            expected
        );
    }

    // getrawtransaction / decoderawtransaction / gettxout.
    let raw = rpc.call("getrawtransaction", json!([txid])).await.unwrap();
    assert_eq!(raw, json!(hex_of(&tx)));
    let rt = Ordered::parse(&result_text(addr, "getrawtransaction", json!([txid, true])).await);
    assert_eq!(
        rt.keys(),
        ["txid", "hash", "version", "size", "vsize", "weight", "locktime", "vin", "vout", "hex"]
    );
    let vin: Vec<Box<RawValue>> = serde_json::from_str(rt.raw("vin")).unwrap();
    assert_eq!(
        Ordered::parse(vin[0].get()).keys(),
        ["txid", "vout", "scriptSig", "txinwitness", "sequence"]
    );
    let vout: Vec<Box<RawValue>> = serde_json::from_str(rt.raw("vout")).unwrap();
    let vout0 = Ordered::parse(vout[0].get());
    assert_eq!(vout0.keys(), ["value", "n", "scriptPubKey"]);
    assert_eq!(vout0.raw("value"), "49.99998000");
    assert_eq!(vout0.get("scriptPubKey").keys(), SCRIPT_PUBKEY);
    let decoded = rpc
        .call("decoderawtransaction", json!([hex_of(&tx)]))
        .await
        .unwrap();
    assert_eq!(decoded["txid"], json!(txid.to_string()));
    assert!(
        decoded.get("hex").is_none(),
        "decoderawtransaction shows no hex"
    );
    assert_eq!(
        error_of(&rpc, "decoderawtransaction", json!(["00zz"])).await,
        (-22, "TX decode failed".into())
    );
    let out = Ordered::parse(&result_text(addr, "gettxout", json!([txid, 0])).await);
    assert_eq!(
        out.keys(),
        [
            "bestblock",
            "confirmations",
            "value",
            "scriptPubKey",
            "coinbase"
        ]
    );
    assert_eq!(out.raw("confirmations"), "0");
    assert_eq!(
        rpc.call("gettxout", json!([txid, 0, false])).await.unwrap(),
        Value::Null
    );
    assert_eq!(
        rpc.call("gettxout", json!([coinbase_txid, 0]))
            .await
            .unwrap(),
        Value::Null
    );
    let cb_out = rpc
        .call("gettxout", json!([coinbase_txid, 0, false]))
        .await
        .unwrap();
    assert_eq!(
        (cb_out["coinbase"].clone(), cb_out["confirmations"].clone()),
        (json!(true), json!(102))
    );

    // estimatesmartfee.
    let fee = Ordered::parse(&result_text(addr, "estimatesmartfee", json!([6])).await);
    assert_eq!(fee.keys(), ["feerate", "blocks"]);
    assert_eq!(fee.raw("feerate"), "0.00001000");
    assert_eq!(error_of(&rpc, "estimatesmartfee", json!([0])).await.0, -8);
    assert_eq!(
        error_of(&rpc, "estimatesmartfee", json!([2, "fast"]))
            .await
            .0,
        -8
    );

    // generateblock with a mempool txid and a raw transaction spending its output.
    let child = wallet.spend(
        OutPoint::new(txid, 0),
        tx.output[0].value,
        Amount::from_sat(1_000),
    );
    let generated = rpc
        .call(
            "generateblock",
            json!([w, [txid.to_string(), hex_of(&child)]]),
        )
        .await
        .unwrap();
    let new_tip = generated["hash"].as_str().unwrap().to_owned();
    assert_eq!(
        rpc.call("getbestblockhash", json!([])).await.unwrap(),
        json!(new_tip)
    );
    let mined = rpc.call("getblock", json!([new_tip, 1])).await.unwrap();
    assert_eq!(
        mined["tx"].as_array().unwrap()[1..],
        [
            json!(txid.to_string()),
            json!(child.compute_txid().to_string())
        ]
    );
    assert_eq!(
        error_of(&rpc, "generateblock", json!([w, [zeros]])).await,
        (-5, format!("Transaction {zeros} not in mempool."))
    );

    // Confirmed transactions: verbose with block fields, verbosity 2 with fee and prevout.
    let conf = Ordered::parse(&result_text(addr, "getrawtransaction", json!([txid, 1])).await);
    assert_eq!(
        &conf.keys()[9..],
        ["hex", "blockhash", "confirmations", "time", "blocktime"]
    );
    assert_eq!(conf.raw("confirmations"), "1");
    let detailed = rpc
        .call("getrawtransaction", json!([txid, 2]))
        .await
        .unwrap();
    assert_eq!(detailed["fee"], json!(0.00002));
    assert_eq!(detailed["vin"][0]["prevout"]["generated"], json!(true));
    assert_eq!(detailed["vin"][0]["prevout"]["height"], json!(1));
    let in_block = rpc
        .call("getrawtransaction", json!([txid, true, new_tip]))
        .await
        .unwrap();
    assert_eq!(in_block["in_active_chain"], json!(true));
    let b3 = rpc.call("getblock", json!([new_tip, 3])).await.unwrap();
    assert_eq!(b3["tx"][2]["fee"], json!(0.00001));
    assert_eq!(b3["tx"][2]["vin"][0]["prevout"]["height"], json!(103));
    assert_eq!(
        error_of(&rpc, "getrawtransaction", json!([zeros])).await,
        (
            -5,
            "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
                .into()
        )
    );

    // invalidateblock puts both back in the mempool.
    assert_eq!(
        rpc.call("invalidateblock", json!([new_tip])).await.unwrap(),
        Value::Null
    );
    let pool = rpc.call("getrawmempool", json!([])).await.unwrap();
    assert_eq!(pool.as_array().unwrap().len(), 2);
    // A competing block at the same height stays off the active chain (first seen wins):
    // Core shows it with -1 confirmations and its own chain work.
    let tip_now = s.node.tip();
    let parent = s.node.header(&tip_now.hash).unwrap().header.prev_blockhash;
    let fork = s
        .node
        .generate_block(&wallet.script(), vec![], Some(parent))
        .unwrap();
    let stale = rpc.call("getblockheader", json!([fork])).await.unwrap();
    assert_eq!(stale["confirmations"], json!(-1));
    assert_eq!(stale["height"], json!(tip_now.height));
    assert!(stale.get("nextblockhash").is_none());
    let active = rpc
        .call("getblockheader", json!([tip_now.hash]))
        .await
        .unwrap();
    assert_eq!(stale["chainwork"], active["chainwork"]);
    assert_eq!(
        error_of(&rpc, "invalidateblock", json!([zeros])).await,
        (-5, "Block not found".into())
    );

    // Control methods.
    assert!(rpc.call("uptime", json!([])).await.unwrap().is_u64());
    assert_eq!(
        rpc.call("setmocktime", json!([0])).await.unwrap(),
        Value::Null
    );
    assert_eq!(error_of(&rpc, "setmocktime", json!([-1])).await.0, -8);
    // Our extension: fees rise when a test says so.
    let fee = |v: Value| v["feerate"].as_f64().unwrap();
    assert_eq!(
        fee(rpc.call("estimatesmartfee", json!([6])).await.unwrap()),
        0.00001
    );
    rpc.call("setfeeestimate", json!([25])).await.unwrap();
    assert_eq!(
        fee(rpc.call("estimatesmartfee", json!([6])).await.unwrap()),
        0.00025
    );
    assert_eq!(error_of(&rpc, "setfeeestimate", json!([0])).await.0, -8);
    rpc.call("setfeeestimate", json!([1])).await.unwrap();
    let help = rpc.call("help", json!([])).await.unwrap();
    assert!(help.as_str().unwrap().contains("getblockchaininfo"));

    // Named arguments, wrong counts and types, wallet methods.
    let named = rpc
        .call("getblockheader", json!({"blockhash": h1, "verbose": false}))
        .await
        .unwrap();
    assert_eq!(named, hex_header);
    assert_eq!(error_of(&rpc, "getblockhash", json!([])).await.0, -1);
    assert_eq!(error_of(&rpc, "getblockcount", json!([1])).await.0, -1);
    assert_eq!(
        error_of(&rpc, "getblockheader", json!({"hash": h1})).await,
        (-8, "Unknown named parameter hash".into())
    );
    assert_eq!(
        error_of(&rpc, "getbalance", json!([])).await,
        (-32601, "Method not found".into())
    );
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_as_bitcoind() {
    let s = Served::start().await;
    let addr = s.server.addr();
    let body = br#"{"method":"getblockcount","params":[],"id":1}"#;

    let none = http(addr, "POST", "/", None, body).await;
    assert_eq!(none.status, 401);
    assert!(none
        .head
        .contains("www-authenticate: basic realm=\"jsonrpc\""));
    let wrong = http(addr, "POST", "/", Some((USER, "nope")), body).await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.is_empty());
    let right = http(addr, "POST", "/", Some((USER, PASSWORD)), body).await;
    assert_eq!(right.status, 200);

    // The cookie: written owner-only, accepted, and followed when it changes.
    let cookie = s.server.cookie_path().unwrap();
    assert_eq!(cookie, s.cookie_dir.path().join(".cookie"));
    let text = std::fs::read_to_string(&cookie).unwrap();
    let (user, password) = text.split_once(':').unwrap();
    assert_eq!(user, "__cookie__");
    assert_eq!(password.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cookie).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let by_cookie = RpcChainSource::new(&s.url(), RpcAuth::CookieFile(cookie.clone())).unwrap();
    assert_eq!(
        by_cookie.call("getblockcount", json!([])).await.unwrap(),
        json!(0)
    );
    let wrong_password = RpcChainSource::new(
        &s.url(),
        RpcAuth::UserPass {
            user: USER.into(),
            password: "nope".into(),
        },
    )
    .unwrap();
    assert!(matches!(
        wrong_password.call("getblockcount", json!([])).await,
        Err(ChainError::Permanent(m)) if m.contains("401")
    ));

    // A restart rewrites the cookie; the client re-reads it when refused.
    let node = s.node.clone();
    s.server.shutdown().await;
    assert!(!cookie.exists(), "cookie removed at shutdown");
    let restarted = RpcServer::start(
        node,
        addr,
        RpcAuthConfig {
            user_password: None,
            cookie_dir: Some(s.cookie_dir.path().to_path_buf()),
        },
    )
    .await
    .unwrap();
    assert_ne!(std::fs::read_to_string(&cookie).unwrap(), text);
    assert_eq!(
        by_cookie.call("getblockcount", json!([])).await.unwrap(),
        json!(0)
    );
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_rpc_framing_as_bitcoind() {
    let s = Served::start().await;
    let addr = s.server.addr();

    let v1 = post(
        addr,
        r#"{"jsonrpc":"1.0","id":"x","method":"getblockcount","params":[]}"#,
    )
    .await;
    assert_eq!(
        (v1.status, v1.body.as_str()),
        (200, "{\"result\":0,\"error\":null,\"id\":\"x\"}\n")
    );
    assert!(v1.head.contains("content-type: application/json"));
    let v2 = post(addr, r#"{"jsonrpc":"2.0","id":7,"method":"getblockcount"}"#).await;
    assert_eq!(
        (v2.status, v2.body.as_str()),
        (200, "{\"jsonrpc\":\"2.0\",\"result\":0,\"id\":7}\n")
    );

    // Errors: HTTP status by code for 1.0, HTTP 200 for 2.0.
    let unknown = post(addr, r#"{"id":1,"method":"nosuchmethod","params":[]}"#).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.body,
        "{\"result\":null,\"error\":{\"code\":-32601,\"message\":\"Method not found\"},\"id\":1}\n"
    );
    let unknown2 = post(addr, r#"{"jsonrpc":"2.0","id":1,"method":"nosuchmethod"}"#).await;
    assert_eq!(unknown2.status, 200);
    assert!(unknown2.body.contains("-32601"));
    let malformed = post(addr, r#"{"id":1,"method":"#).await;
    assert_eq!(malformed.status, 500);
    assert_eq!(
        malformed.body,
        "{\"result\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}\n"
    );
    let invalid = post(addr, r#"{"id":1,"method":"getblockhash","params":[-1]}"#).await;
    assert_eq!(invalid.status, 500);
    assert!(invalid.body.contains("\"code\":-8"));
    let bad_request = post(addr, r#"{"id":1,"method":7}"#).await;
    assert_eq!(bad_request.status, 400);
    assert!(bad_request.body.contains("-32600"));

    // Batches: one answer per request in order, errors inline, notifications silent.
    let batch = post(
        addr,
        r#"[{"jsonrpc":"2.0","id":1,"method":"getblockcount"},
            {"jsonrpc":"2.0","id":2,"method":"nosuchmethod"},
            {"jsonrpc":"2.0","method":"getblockcount"},
            {"id":3,"method":"getblockhash","params":[0]}]"#,
    )
    .await;
    assert_eq!(batch.status, 200);
    let replies: Vec<Value> = serde_json::from_str(&batch.body).unwrap();
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[0]["result"], json!(0));
    assert_eq!(replies[1]["error"]["code"], json!(-32601));
    assert_eq!(replies[2]["id"], json!(3));
    assert_eq!(replies[2]["error"], Value::Null);
    let note = post(addr, r#"{"jsonrpc":"2.0","method":"getblockcount"}"#).await;
    assert_eq!((note.status, note.body.as_str()), (204, ""));

    // Only POST on "/".
    let get = http(addr, "GET", "/", Some((USER, PASSWORD)), b"").await;
    assert_eq!(get.status, 405);
    let elsewhere = http(addr, "POST", "/rest", Some((USER, PASSWORD)), b"{}").await;
    assert_eq!(elsewhere.status, 404);
    s.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_are_refused_and_the_server_keeps_serving() {
    let node = RegtestNode::in_memory().unwrap();
    let auth = RpcAuthConfig {
        user_password: Some((USER.into(), PASSWORD.into())),
        cookie_dir: None,
    };
    let options = RpcServerOptions {
        max_body_bytes: 4096,
        ..RpcServerOptions::default()
    };
    let server = RpcServer::start_with(node, "127.0.0.1:0".parse().unwrap(), auth, options)
        .await
        .unwrap();
    let addr = server.addr();
    let padding = "0".repeat(10_000);
    let big = format!(r#"{{"id":1,"method":"decoderawtransaction","params":["{padding}"]}}"#);
    let refused = post(addr, &big).await;
    assert_eq!(refused.status, 413);
    let client = RpcChainSource::new(
        &format!("http://{addr}"),
        RpcAuth::UserPass {
            user: USER.into(),
            password: PASSWORD.into(),
        },
    )
    .unwrap();
    // Through the client, the refusal is an error, not a hang or a crash.
    let err = client
        .call("decoderawtransaction", json!([padding]))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err:?}");
    assert_eq!(
        client.call("getblockcount", json!([])).await.unwrap(),
        json!(0)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_answers_then_shuts_down() {
    let s = Served::start().await;
    let rpc = s.client();
    let cookie = s.server.cookie_path().unwrap();
    let stopped = s.server.stopped();
    assert_eq!(
        rpc.call("stop", json!([])).await.unwrap(),
        json!("chanhub stopping")
    );
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("stopped() resolves");
    // Connection refused once it is down: a transient error for the client.
    let mut refused = false;
    for _ in 0..50 {
        match rpc.call("getblockcount", json!([])).await {
            Err(ChainError::Transient(_)) => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(refused, "server still answering after stop");
    s.server.shutdown().await;
    assert!(!cookie.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_server_is_a_transient_error() {
    let node = RegtestNode::in_memory().unwrap();
    let auth = RpcAuthConfig {
        user_password: Some((USER.into(), PASSWORD.into())),
        cookie_dir: None,
    };
    let options = RpcServerOptions {
        work_queue: 1,
        ..RpcServerOptions::default()
    };
    let server = RpcServer::start_with(node, "127.0.0.1:0".parse().unwrap(), auth, options)
        .await
        .unwrap();
    let url = format!("http://{}", server.addr());
    let auth = RpcAuth::UserPass {
        user: USER.into(),
        password: PASSWORD.into(),
    };
    let slow = RpcChainSource::new(&url, auth.clone()).unwrap();
    // `stop`'s hidden argument holds the only worker for a while before answering.
    let holder = tokio::spawn(async move { slow.call("stop", json!([1500])).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = RpcChainSource::new(&url, auth).unwrap();
    let busy = other.call("getblockcount", json!([])).await.unwrap_err();
    assert!(busy.is_transient(), "{busy:?}");
    assert_eq!(holder.await.unwrap().unwrap(), json!("chanhub stopping"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_client_mines_sends_confirms_and_sees_rejections() {
    use bitcoincore_rpc::{Auth, Client, RpcApi};

    let s = Served::start().await;
    let url = s.url();
    let cookie = s.server.cookie_path().unwrap();
    tokio::task::spawn_blocking(move || {
        let c = Client::new(&url, Auth::CookieFile(cookie)).unwrap();
        let wallet = Wallet::new(5);
        let info = c.get_blockchain_info().unwrap();
        assert_eq!(info.chain, bitcoin::Network::Regtest);
        let hashes = c.generate_to_address(101, &wallet.address).unwrap();
        assert_eq!(c.get_block_count().unwrap(), 101);
        assert_eq!(c.get_best_block_hash().unwrap(), hashes[100]);

        let block = c.get_block(&hashes[0]).unwrap();
        let coin = OutPoint::new(block.txdata[0].compute_txid(), 0);
        let utxo = c.get_tx_out(&coin.txid, 0, Some(true)).unwrap().unwrap();
        assert!(utxo.coinbase);
        assert_eq!(utxo.value, Amount::from_btc(50.0).unwrap());
        let header = c.get_block_header_info(&hashes[0]).unwrap();
        assert_eq!((header.height, header.confirmations), (1, 101));
        let info = c.get_block_info(&hashes[0]).unwrap();
        assert_eq!(info.tx, vec![coin.txid]);

        let tx = wallet.spend(coin, utxo.value, Amount::from_sat(1_500));
        let accept = c.test_mempool_accept(&[&tx]).unwrap();
        assert!(accept[0].allowed);
        assert_eq!(
            accept[0].fees.as_ref().unwrap().base,
            Amount::from_sat(1_500)
        );
        let txid = c.send_raw_transaction(&tx).unwrap();
        assert_eq!(txid, tx.compute_txid());
        let entry = c.get_mempool_entry(&txid).unwrap();
        assert_eq!(entry.fees.base, Amount::from_sat(1_500));
        assert!(c.get_raw_mempool_verbose().unwrap().contains_key(&txid));
        let mempool = c.get_mempool_info().unwrap();
        assert_eq!(mempool.size, 1);
        let fee = c.estimate_smart_fee(6, None).unwrap();
        assert_eq!(fee.fee_rate, Some(Amount::from_sat(1_000)));
        let _ = c.get_network_info().unwrap();

        let mined = c.generate_to_address(1, &wallet.address).unwrap();
        let confirmed = c.get_raw_transaction_info(&txid, None).unwrap();
        assert_eq!(confirmed.confirmations, Some(1));
        assert_eq!(confirmed.blockhash, Some(mined[0]));
        assert_eq!(
            confirmed.vout[0].value,
            Amount::from_sat(5_000_000_000 - 1_500)
        );

        let code_of = |e: bitcoincore_rpc::Error| match e {
            bitcoincore_rpc::Error::JsonRpc(bitcoincore_rpc::jsonrpc::Error::Rpc(r)) => {
                (r.code as i64, r.message)
            }
            other => panic!("not an RPC error: {other:?}"),
        };
        // -27: already in the chain.
        let (code, _) = code_of(c.send_raw_transaction(&tx).unwrap_err());
        assert_eq!(code, -27);
        // -25: inputs missing (spent by the confirmed transaction).
        let double = wallet.spend(coin, utxo.value, Amount::from_sat(3_000));
        let (code, message) = code_of(c.send_raw_transaction(&double).unwrap_err());
        assert_eq!(
            (code, message.as_str()),
            (-25, "bad-txns-inputs-missingorspent")
        );
        // -26: no fee.
        let coin2 = OutPoint::new(c.get_block(&hashes[1]).unwrap().txdata[0].compute_txid(), 0);
        let free = wallet.spend(coin2, utxo.value, Amount::ZERO);
        let (code, message) = code_of(c.send_raw_transaction(&free).unwrap_err());
        assert_eq!(code, -26);
        assert!(message.starts_with("min relay fee not met"), "{message}");
        // -26: locked until a future height.
        let out = TxOut {
            value: utxo.value - Amount::from_sat(1_000),
            script_pubkey: wallet.script(),
        };
        let locked = wallet.spend_with(
            coin2,
            utxo.value,
            vec![out],
            absolute::LockTime::from_height(500).unwrap(),
            Sequence::ENABLE_LOCKTIME_NO_RBF,
        );
        let (code, message) = code_of(c.send_raw_transaction(&locked).unwrap_err());
        assert_eq!((code, message.as_str()), (-26, "non-final"));

        // A reorg sends the confirmed transaction back to the mempool.
        c.invalidate_block(&mined[0]).unwrap();
        assert_eq!(c.get_block_count().unwrap(), 101);
        assert_eq!(c.get_raw_mempool().unwrap(), vec![txid]);
        c.generate_to_address(1, &wallet.address).unwrap();
        assert!(c.get_raw_mempool().unwrap().is_empty());

        // -26: a second spend of a coin the mempool already spends (no replacement signalled).
        let first = wallet.spend(coin2, utxo.value, Amount::from_sat(1_000));
        c.send_raw_transaction(&first).unwrap();
        let second = wallet.spend(coin2, utxo.value, Amount::from_sat(5_000));
        let (code, message) = code_of(c.send_raw_transaction(&second).unwrap_err());
        assert_eq!(code, -26);
        assert!(message.starts_with("txn-mempool-conflict"), "{message}");

        // -26: a signature that does not verify.
        let coin3 = OutPoint::new(c.get_block(&hashes[2]).unwrap().txdata[0].compute_txid(), 0);
        let mut forged = wallet.spend(coin3, utxo.value, Amount::from_sat(1_000));
        forged.output[0].value -= Amount::from_sat(1);
        let (code, message) = code_of(c.send_raw_transaction(&forged).unwrap_err());
        assert_eq!(code, -26);
        assert!(
            message.starts_with("mandatory-script-verify-flag-failed"),
            "{message}"
        );

        // -26: a relative lock of 5 blocks on a coin with 1 confirmation, then accepted.
        let young = OutPoint::new(txid, 0);
        assert_eq!(
            c.get_tx_out(&txid, 0, Some(false))
                .unwrap()
                .unwrap()
                .confirmations,
            1
        );
        let value = confirmed.vout[0].value;
        let out = TxOut {
            value: value - Amount::from_sat(1_000),
            script_pubkey: wallet.script(),
        };
        let csv = wallet.spend_with(
            young,
            value,
            vec![out],
            absolute::LockTime::ZERO,
            Sequence::from_height(5),
        );
        let (code, message) = code_of(c.send_raw_transaction(&csv).unwrap_err());
        assert_eq!((code, message.as_str()), (-26, "non-BIP68-final"));
        c.generate_to_address(3, &wallet.address).unwrap();
        let (_, message) = code_of(c.send_raw_transaction(&csv).unwrap_err());
        assert_eq!(message, "non-BIP68-final", "one block early");
        c.generate_to_address(1, &wallet.address).unwrap();
        assert_eq!(c.send_raw_transaction(&csv).unwrap(), csv.compute_txid());
    })
    .await
    .unwrap();
    s.server.shutdown().await;
}
