//! A cluster's credentials: the CA `orc server` and `orc up` keep in
//! `<data-dir>/pki`, and one identity per component, named as Kubernetes
//! names them, so the API server (and one day its authorizer) knows who
//! each request comes from.
//!
//! | who                         | CN (user)                        | O (group)        |
//! |-----------------------------|----------------------------------|------------------|
//! | the user `orc up` serves    | `kubernetes-admin`               | `system:masters` |
//! | the scheduler               | `system:kube-scheduler`          |                  |
//! | the controllers             | `system:kube-controller-manager` |                  |
//! | each node's agent           | `system:node:<name>`             | `system:nodes`   |
//! | the nodes' proxy            | `system:kube-proxy`              |                  |
//! | the nodes' cluster DNS      | `orc:node-dns`                   |                  |
//! | the nodes' ingress          | `orc:ingress`                    |                  |
//! | the API server, to agents   | `kube-apiserver-kubelet-client`  |                  |
//!
//! Each name is what the API server's bootstrap policy binds a role to
//! (`03-apiserver/server/src/authz/bootstrap-policy.yaml`): with
//! `--authorization-mode=Node,RBAC`, which `orc up` turns on, a component
//! may do what its Kubernetes role allows and nothing more; a node, what
//! the Node authorizer allows it for its own objects. The proxy, DNS and
//! ingress run inside each agent's process but log in as themselves, as
//! kube-proxy, CoreDNS and ingress-nginx do beside a kubelet (the routes
//! to other nodes' pods read every Node with the proxy's credential).
//!
//! The hop the other way, from the API server to a node's agent (logs,
//! exec, port-forward), is TLS too: each agent serves with a certificate
//! for its node's address ([`ClusterCa::agent_serving`]), and the API
//! server presents `kube-apiserver-kubelet-client`
//! ([`ClusterCa::agent_client`]), which the agent asks the API server
//! about like any user (`03-apiserver/node/src/port_auth/`): RBAC allows
//! it through the bootstrap policy's `kubeadm:kubelet-api-admin` binding.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use orc_apiserver::pki::{CertificateAuthority, Issued, PkiDir, Subject, Usage, serving_names};
use orc_client::tls::{ClientTls, Identity};

/// The first address of the default Service range (10.96.0.0/12): the
/// `kubernetes` Service's cluster IP, a name the API server answers to.
const FIRST_SERVICE_IP: [u8; 4] = [10, 96, 0, 1];

/// `kubernetes-admin` in `system:masters`: the cluster's administrator.
pub fn admin() -> Subject {
    Subject::in_group("kubernetes-admin", "system:masters")
}

/// The scheduler's identity.
pub fn scheduler() -> Subject {
    Subject::new("system:kube-scheduler")
}

/// The controller manager's identity.
pub fn controller_manager() -> Subject {
    Subject::new("system:kube-controller-manager")
}

/// Node `name`'s agent: `system:node:<name>` in `system:nodes`, what
/// Kubernetes' Node authorizer recognises a kubelet by.
pub fn node(name: &str) -> Subject {
    Subject::in_group(&format!("system:node:{name}"), "system:nodes")
}

/// The nodes' proxy: kube-proxy's user, bound to `system:node-proxier`.
pub fn proxy() -> Subject {
    Subject::new("system:kube-proxy")
}

/// The nodes' cluster DNS, bound to orc's `orc:node-dns` role (CoreDNS's
/// reads, and the writes that publish it as `kube-dns`).
pub fn node_dns() -> Subject {
    Subject::new("orc:node-dns")
}

/// The nodes' ingress controller, bound to orc's `orc:ingress` role (what
/// ingress-nginx's ServiceAccount may: read Ingresses, their classes,
/// Services, EndpointSlices, Pods and Secrets; write Ingress status and
/// Events).
pub fn ingress() -> Subject {
    Subject::new("orc:ingress")
}

/// The API server's identity towards the nodes' agents (kubeadm's
/// `apiserver-kubelet-client.crt` has this CN). No group: it opens the
/// agents' port and nothing on the API.
pub fn agent_client() -> Subject {
    Subject::new(orc_pod::agent::auth::API_SERVER_CLIENT)
}

/// The cluster's CA with its directory.
pub struct ClusterCa {
    /// `<data-dir>/pki`, 0700.
    pki: PkiDir,
    /// The CA, loaded from there or made there.
    ca: CertificateAuthority,
}

impl ClusterCa {
    /// The CA in `dir` (made there, 0700 and 0600, when missing).
    pub fn open(dir: &Path) -> Result<ClusterCa> {
        let pki =
            PkiDir::open(dir).with_context(|| format!("opening the PKI {}", dir.display()))?;
        let ca = pki.ca().context("the cluster CA")?;
        Ok(ClusterCa { pki, ca })
    }

    /// `ca.crt`, what `--client-ca-file` names.
    pub fn ca_file(&self) -> PathBuf {
        self.pki.path("ca.crt")
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    /// A fresh serving certificate for the API server at `addresses`,
    /// written as `apiserver.crt`/`apiserver.key`; answers the two paths.
    pub fn serving(&self, addresses: &[IpAddr]) -> Result<(PathBuf, PathBuf)> {
        let names = serving_names(addresses, IpAddr::from(FIRST_SERVICE_IP));
        let issued = self
            .ca
            .issue(&Subject::new("kube-apiserver"), &Usage::Server { names })?;
        Ok(self.pki.write("apiserver", &issued)?)
    }

    /// `sa.key`, the key service account tokens are signed with (made
    /// beside the CA on first start, kept after).
    pub fn service_account_key(&self) -> Result<PathBuf> {
        Ok(self.pki.service_account_key()?)
    }

    // ANCHOR: agent_certificates
    /// A fresh serving certificate for node `name`'s agent at `address`,
    /// written as `agent-<name>.crt`/`.key`; answers the two paths (the
    /// kubelet's `--tls-cert-file` and `--tls-private-key-file`).
    pub fn agent_serving(&self, name: &str, address: IpAddr) -> Result<(PathBuf, PathBuf)> {
        let subject = Subject::new(&format!("system:node:{name}"));
        let names = vec![address.to_string()];
        let issued = self.ca.issue(&subject, &Usage::Server { names })?;
        Ok(self.pki.write(&format!("agent-{name}"), &issued)?)
    }

    /// The API server's client certificate for the agents, written as
    /// `apiserver-kubelet-client.crt`/`.key`, with the CA that vouches for
    /// the agents: kube-apiserver's three `--kubelet-*` files.
    pub fn agent_client(&self) -> Result<orc_apiserver::agent_client::AgentClientFiles> {
        let issued = self.client(&agent_client())?;
        let (certificate, key) = self.pki.write("apiserver-kubelet-client", &issued)?;
        Ok(orc_apiserver::agent_client::AgentClientFiles {
            certificate,
            key,
            certificate_authority: self.ca_file(),
        })
    }
    // ANCHOR_END: agent_certificates

    /// A fresh client certificate for `subject`.
    pub fn client(&self, subject: &Subject) -> Result<Issued> {
        Ok(self.ca.issue(subject, &Usage::Client)?)
    }

    /// TLS for an in-process component: trust this CA, present a fresh
    /// certificate for `subject`.
    pub fn client_tls(&self, subject: &Subject) -> Result<ClientTls> {
        let issued = self.client(subject)?;
        let identity = Identity {
            cert_pem: issued.cert_pem.into_bytes(),
            key_pem: issued.key_pem.into_bytes(),
        };
        Ok(ClientTls::new(self.ca_pem().as_bytes(), Some(&identity))?)
    }
}
