//! IPv4 CIDRs and the pool configurations built from them: `--cluster-cidr` with
//! `--node-cidr-mask-size` for node IPAM ([`NodeCidrs`]), and `--load-balancer-ip-range` for
//! the load-balancer pool ([`AddressPool`]). Each maps its pool onto numbered slots for
//! [`super::pool`]. Parsed and validated once at start; the dataflows only read them.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use super::pool::{Slot, MAX_SLOTS};

/// Why a pool configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolConfigError {
    /// The text is not an IPv4 CIDR such as `10.244.0.0/16`.
    #[error("{0:?} is not an IPv4 CIDR (such as 10.244.0.0/16)")]
    NotCidr(String),
    /// The text is neither an IPv4 CIDR nor a range `first-last` of IPv4 addresses, first ≤ last.
    #[error("{0:?} is neither an IPv4 CIDR nor an address range first-last")]
    NotRange(String),
    /// The node mask is shorter than the cluster CIDR's prefix, or longer than 32 bits
    /// (upstream's node IPAM refuses the same at start).
    #[error("--node-cidr-mask-size {mask} must be between the --cluster-cidr prefix {prefix} and 32")]
    NodeMask { mask: u8, prefix: u8 },
    /// The pool holds more slots than the allocator tracks ([`MAX_SLOTS`]).
    #[error("the pool holds {0} blocks or addresses; at most {MAX_SLOTS} are supported")]
    TooLarge(u64),
}

/// An IPv4 network. Parsing masks host bits off, as Go's `net.ParseCIDR` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Cidr {
    pub network: u32,
    pub prefix: u8,
}

impl Ipv4Cidr {
    fn mask(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    /// The last address of the network.
    pub fn last(&self) -> u32 {
        self.network | !Ipv4Cidr::mask(self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = PoolConfigError;
    fn from_str(text: &str) -> Result<Ipv4Cidr, PoolConfigError> {
        let error = || PoolConfigError::NotCidr(text.to_string());
        let (address, prefix) = text.trim().split_once('/').ok_or_else(error)?;
        let address: Ipv4Addr = address.parse().map_err(|_| error())?;
        let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(error)?;
        Ok(Ipv4Cidr { network: u32::from(address) & Ipv4Cidr::mask(prefix), prefix })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

/// Node IPAM's pool: the blocks of `--node-cidr-mask-size` bits in `--cluster-cidr`, block
/// `i` being the `i`-th from the start (upstream's `cidrset.indexToCIDRBlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeCidrs {
    pub cluster: Ipv4Cidr,
    pub mask: u8,
}

impl NodeCidrs {
    pub fn new(cluster: Ipv4Cidr, mask: u8) -> Result<NodeCidrs, PoolConfigError> {
        if mask < cluster.prefix || mask > 32 {
            return Err(PoolConfigError::NodeMask { mask, prefix: cluster.prefix });
        }
        let blocks = 1u64 << (mask - cluster.prefix);
        if blocks > u64::from(MAX_SLOTS) {
            return Err(PoolConfigError::TooLarge(blocks));
        }
        Ok(NodeCidrs { cluster, mask })
    }

    pub fn blocks(&self) -> Slot {
        1 << (self.mask - self.cluster.prefix)
    }

    pub fn block(&self, index: Slot) -> Ipv4Cidr {
        Ipv4Cidr { network: self.cluster.network | (index << (32 - u32::from(self.mask))), prefix: self.mask }
    }

    /// The blocks a node's CIDR occupies, as upstream's `cidrset.getBeginningAndEndIndices`:
    /// every block it overlaps, all of them when it covers the cluster CIDR; an error when it
    /// does not overlap the cluster CIDR at all.
    pub fn occupied_by(&self, cidr: &Ipv4Cidr) -> Result<std::ops::RangeInclusive<Slot>, String> {
        if cidr.last() < self.cluster.network || cidr.network > self.cluster.last() {
            return Err(format!("cidr {cidr} is out the range of cluster cidr {}", self.cluster));
        }
        if cidr.prefix <= self.cluster.prefix {
            return Ok(0..=self.blocks() - 1);
        }
        let index = |address: u32| (address - self.cluster.network) >> (32 - u32::from(self.mask));
        Ok(index(cidr.network)..=index(cidr.last()))
    }
}

/// The load-balancer pool: an inclusive range of IPv4 addresses, given either as
/// `first-last` or as a CIDR (every address in it, network and broadcast included, as a
/// MetalLB address pool). Slot `i` is the `i`-th address from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPool {
    pub first: u32,
    pub last: u32,
}

impl AddressPool {
    pub fn size(&self) -> Slot {
        self.last - self.first + 1
    }

    pub fn address(&self, slot: Slot) -> String {
        Ipv4Addr::from(self.first + slot).to_string()
    }

    /// The slot of an address, if it is one of the pool's.
    pub fn slot(&self, address: &str) -> Option<Slot> {
        let a = u32::from(address.parse::<Ipv4Addr>().ok()?);
        (self.first..=self.last).contains(&a).then(|| a - self.first)
    }
}

impl FromStr for AddressPool {
    type Err = PoolConfigError;
    fn from_str(text: &str) -> Result<AddressPool, PoolConfigError> {
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => {
                let parse = |s: &str| s.trim().parse::<Ipv4Addr>().map(u32::from).map_err(|_| PoolConfigError::NotRange(text.to_string()));
                (parse(a)?, parse(b)?)
            }
            None => {
                let cidr: Ipv4Cidr = text.parse().map_err(|_| PoolConfigError::NotRange(text.to_string()))?;
                (cidr.network, cidr.last())
            }
        };
        if first > last {
            return Err(PoolConfigError::NotRange(text.to_string()));
        }
        let size = u64::from(last - first) + 1;
        if size > u64::from(MAX_SLOTS) {
            return Err(PoolConfigError::TooLarge(size));
        }
        Ok(AddressPool { first, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_follow_upstream_cidrset_indices() {
        let c = NodeCidrs::new(cidr("10.244.7.9/16"), 24).unwrap();
        assert_eq!((c.cluster.to_string(), c.blocks()), ("10.244.0.0/16".to_string(), 256));
        assert_eq!(c.block(3).to_string(), "10.244.3.0/24");
        assert_eq!(c.occupied_by(&cidr("10.244.3.0/24")), Ok(3..=3));
        assert_eq!(c.occupied_by(&cidr("10.244.4.0/23")), Ok(4..=5));
        assert_eq!(c.occupied_by(&cidr("10.244.9.128/25")), Ok(9..=9));
        assert_eq!(c.occupied_by(&cidr("10.0.0.0/8")), Ok(0..=255));
        assert!(c.occupied_by(&cidr("10.245.0.0/24")).is_err());
        assert_eq!(NodeCidrs::new(cidr("10.0.0.0/16"), 8), Err(PoolConfigError::NodeMask { mask: 8, prefix: 16 }));
        assert_eq!(NodeCidrs::new(cidr("10.0.0.0/8"), 30), Err(PoolConfigError::TooLarge(1 << 22)));
        assert!("10.0.0.0".parse::<Ipv4Cidr>().is_err() && "fd00::/64".parse::<Ipv4Cidr>().is_err() && "10.0.0.0/33".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn address_pools_are_ranges_or_cidrs() {
        let p: AddressPool = "172.18.255.200-172.18.255.250".parse().unwrap();
        assert_eq!((p.size(), p.address(0), p.address(50)), (51, "172.18.255.200".to_string(), "172.18.255.250".to_string()));
        assert_eq!((p.slot("172.18.255.201"), p.slot("172.18.255.251"), p.slot("x")), (Some(1), None, None));
        let c: AddressPool = "192.168.10.0/30".parse().unwrap();
        assert_eq!((c.address(0), c.size()), ("192.168.10.0".to_string(), 4));
        assert!("10.0.0.9-10.0.0.1".parse::<AddressPool>().is_err() && "10.0.0.0/8".parse::<AddressPool>().is_err());
    }
}
