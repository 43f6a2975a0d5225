//! Open connections per client address, capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::buckets::client_key;

/// Open connections per client address.
#[derive(Default)]
pub(super) struct ClientTable {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl ClientTable {
    /// A place for one more connection from `ip`, unless it holds `cap`.
    pub(super) fn take(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            table: Arc::clone(self),
            key,
        })
    }
}

/// One connection counted against its client; given back on drop.
pub(super) struct ClientSlot {
    table: Arc<ClientTable>,
    key: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_cap_of_connections_and_its_places_back_on_close() {
        let table = Arc::new(ClientTable::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| table.take(ip, 3).unwrap()).collect();
        assert!(table.take(ip, 3).is_none());
        assert!(table.take("192.0.2.2".parse().unwrap(), 3).is_some());
        drop(held);
        assert!(table.take(ip, 3).is_some());
        assert!(
            table.open.lock().unwrap().len() <= 1,
            "closed clients are forgotten"
        );
    }
}
