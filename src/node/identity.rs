//! Binds a database to one seed and one network, so a swapped seed file or a wrong
//! `--network` is refused instead of mixing two wallets' state.

use crate::keys::KeysManager;
use crate::store::{meta, Store};

use super::NodeError;

const NETWORK_KEY: &str = "network";
const NODE_ID_KEY: &str = "node_id";

pub(super) async fn check(store: &Store, keys: &KeysManager) -> Result<(), NodeError> {
    let network = keys.network().to_string();
    let node_id = keys.node_id().to_string();
    let (n, id) = (network.clone(), node_id.clone());
    let (stored_network, stored_id) = store
        .write(move |tx| {
            let sn = meta::get_str(tx, NETWORK_KEY)?;
            let sid = meta::get_str(tx, NODE_ID_KEY)?;
            if sn.is_none() {
                meta::set(tx, NETWORK_KEY, n.as_bytes())?;
            }
            if sid.is_none() {
                meta::set(tx, NODE_ID_KEY, id.as_bytes())?;
            }
            Ok((sn, sid))
        })
        .await?;
    if let Some(sn) = stored_network {
        if sn != network {
            return Err(NodeError::Identity(format!(
                "this data directory holds a {sn} node; it cannot run on {network}"
            )));
        }
    }
    if let Some(sid) = stored_id {
        if sid != node_id {
            return Err(NodeError::Identity(format!(
                "the database belongs to node {sid}, but the seed is of node {node_id}; \
                 restore the matching seed file"
            )));
        }
    }
    Ok(())
}
