//! The methods served, their arguments (for count/type checks and named arguments), and
//! dispatch. Unknown methods (wallet ones included) answer -32601 "Method not found", as a
//! bitcoind built without a wallet.

mod blockchain;
mod control;
mod lookup;
mod mempool;
mod mining;
mod rawtx;

use serde_json::Value;

use super::error::RpcError;
use super::params::{opt, req, Arg, ArgType::*, Params};
use super::value::Json;
use super::Shared;

type Handler = fn(&Shared, &Params) -> Result<Json, RpcError>;

pub(crate) struct Method {
    pub name: &'static str,
    pub category: &'static str,
    pub args: &'static [Arg],
    run: Handler,
}

const fn m(
    category: &'static str,
    name: &'static str,
    args: &'static [Arg],
    run: Handler,
) -> Method {
    Method {
        name,
        category,
        args,
        run,
    }
}

pub(crate) static METHODS: &[Method] = &[
    m(
        "blockchain",
        "getbestblockhash",
        &[],
        blockchain::getbestblockhash,
    ),
    m(
        "blockchain",
        "getblock",
        &[req("blockhash", Str), opt("verbosity|verbose", Any)],
        blockchain::getblock,
    ),
    m(
        "blockchain",
        "getblockchaininfo",
        &[],
        blockchain::getblockchaininfo,
    ),
    m(
        "blockchain",
        "getblockcount",
        &[],
        blockchain::getblockcount,
    ),
    m(
        "blockchain",
        "getblockhash",
        &[req("height", Num)],
        blockchain::getblockhash,
    ),
    m(
        "blockchain",
        "getblockheader",
        &[req("blockhash", Str), opt("verbose", Bool)],
        blockchain::getblockheader,
    ),
    m(
        "blockchain",
        "getmempoolentry",
        &[req("txid", Str)],
        mempool::getmempoolentry,
    ),
    m("blockchain", "getmempoolinfo", &[], mempool::getmempoolinfo),
    m(
        "blockchain",
        "getrawmempool",
        &[opt("verbose", Bool), opt("mempool_sequence", Bool)],
        mempool::getrawmempool,
    ),
    m(
        "blockchain",
        "gettxspendingprevout",
        &[req("outputs", Arr)],
        mempool::gettxspendingprevout,
    ),
    m(
        "blockchain",
        "gettxout",
        &[
            req("txid", Str),
            req("n", Num),
            opt("include_mempool", Bool),
        ],
        blockchain::gettxout,
    ),
    m(
        "blockchain",
        "invalidateblock",
        &[req("blockhash", Str)],
        blockchain::invalidateblock,
    ),
    m("control", "help", &[opt("command", Str)], control::help),
    m("control", "stop", &[opt("wait", Num)], control::stop),
    m("control", "uptime", &[], control::uptime),
    m(
        "generating",
        "generateblock",
        &[
            req("output", Str),
            req("transactions", Arr),
            opt("submit", Bool),
        ],
        mining::generateblock,
    ),
    m(
        "generating",
        "generatetoaddress",
        &[
            req("nblocks", Num),
            req("address", Str),
            opt("maxtries", Num),
        ],
        mining::generatetoaddress,
    ),
    m(
        "hidden",
        "setfeeestimate",
        &[req("sat_per_vb", Num)],
        control::setfeeestimate,
    ),
    m(
        "hidden",
        "setmocktime",
        &[req("timestamp", Num)],
        control::setmocktime,
    ),
    m("network", "getnetworkinfo", &[], control::getnetworkinfo),
    m(
        "rawtransactions",
        "decoderawtransaction",
        &[req("hexstring", Str), opt("iswitness", Bool)],
        rawtx::decoderawtransaction,
    ),
    m(
        "rawtransactions",
        "getrawtransaction",
        &[
            req("txid", Str),
            opt("verbosity|verbose", Any),
            opt("blockhash", Str),
        ],
        rawtx::getrawtransaction,
    ),
    m(
        "rawtransactions",
        "sendrawtransaction",
        &[
            req("hexstring", Str),
            opt("maxfeerate", Amount),
            opt("maxburnamount", Amount),
        ],
        rawtx::sendrawtransaction,
    ),
    m(
        "rawtransactions",
        "testmempoolaccept",
        &[req("rawtxs", Arr), opt("maxfeerate", Amount)],
        rawtx::testmempoolaccept,
    ),
    m(
        "util",
        "estimatesmartfee",
        &[req("conf_target", Num), opt("estimate_mode", Str)],
        mining::estimatesmartfee,
    ),
];

/// Runs `method` with `params` (an array, or an object of named arguments).
pub(crate) fn execute(shared: &Shared, method: &str, params: &Value) -> Result<Json, RpcError> {
    let m = METHODS
        .iter()
        .find(|m| m.name == method)
        .ok_or_else(RpcError::method_not_found)?;
    let p = Params::check(m.name, m.args, params)?;
    (m.run)(shared, &p)
}
