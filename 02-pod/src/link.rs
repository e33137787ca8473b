//! Small netlink requests on links that the bridge and veth code share.

use futures::TryStreamExt;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::{Handle, LinkUnspec};

use nix::libc::ENODEV;

use crate::error::{Context, NetError, is_errno};

/// The index of the link called `name`, or `None` if there is none.
///
/// Netlink addresses links by index; names are for people. Asking for a name
/// that does not exist is answered with `ENODEV`, which here means "absent".
pub async fn index_of(handle: &Handle, name: &str) -> Result<Option<u32>, NetError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link.map(|link| link.header.index)),
        Err(e) if is_errno(&e, ENODEV) => Ok(None),
        Err(source) => Err(NetError::Netlink {
            what: format!("looking up link {name}"),
            source,
        }),
    }
}

/// The MAC address of link `name` in `handle`'s namespace (a pod's `eth0`, the bridge).
pub async fn mac_address(handle: &Handle, name: &str) -> Result<Vec<u8>, NetError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    let link = links
        .try_next()
        .await
        .context(|| format!("reading the MAC address of {name}"))?
        .ok_or_else(|| NetError::Unexpected(format!("link {name} is gone")))?;
    link.attributes
        .into_iter()
        .find_map(|attribute| match attribute {
            LinkAttribute::Address(mac) => Some(mac),
            _ => None,
        })
        .ok_or_else(|| NetError::Unexpected(format!("link {name} has no MAC address")))
}

/// `ip link set NAME address MAC`. The kernel marks an address set this
/// way as chosen (`addr_assign_type` 3 in sysfs) and never changes it on
/// its own afterwards.
pub async fn set_mac_address(
    handle: &Handle,
    index: u32,
    name: &str,
    mac: &[u8],
) -> Result<(), NetError> {
    handle
        .link()
        .set(
            LinkUnspec::new_with_index(index)
                .address(mac.to_vec())
                .build(),
        )
        .execute()
        .await
        .context(|| format!("setting the MAC address of {name}"))
}

/// `ip link set NAME up`.
pub async fn set_up(handle: &Handle, index: u32, name: &str) -> Result<(), NetError> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .context(|| format!("bringing link {name} up"))
}

/// `ip link delete NAME`, succeeding when there is no such link, so that
/// tear-down can be run again after a partial failure.
pub async fn delete_if_present(handle: &Handle, name: &str) -> Result<bool, NetError> {
    let Some(index) = index_of(handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(true),
        // Deleted meanwhile, for example with the other end of its veth pair.
        Err(e) if is_errno(&e, ENODEV) => Ok(false),
        Err(source) => Err(NetError::Netlink {
            what: format!("deleting link {name}"),
            source,
        }),
    }
}
