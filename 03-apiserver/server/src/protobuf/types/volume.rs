//! Protobuf tables for core `v1`: the volume sources a pod may mount.
//!
//! `Volume` embeds `VolumeSource` (field 2), so in JSON `emptyDir` sits
//! next to `name`. Every source Kubernetes v1.32 defines is listed, even the
//! cloud ones orc never mounts, so a manifest that names one decodes to the
//! same JSON as it would have sent and validation, not the decoder, decides.
//!
//! Field numbers and types as Kubernetes v1.32 defines them.

use super::{container, core, meta};
use crate::protobuf::message::Kind::{Bool, I32, I64, Msg, Quantity, Str};
use crate::protobuf::message::{Message, inline, list, map, one, opt};

pub static AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE: Message = Message::new(
    "AWSElasticBlockStoreVolumeSource",
    &[
        one(1, "volumeID", Str),
        one(2, "fsType", Str),
        one(3, "partition", I32),
        one(4, "readOnly", Bool),
    ],
);

pub static AZURE_DISK_VOLUME_SOURCE: Message = Message::new(
    "AzureDiskVolumeSource",
    &[
        one(1, "diskName", Str),
        one(2, "diskURI", Str),
        opt(3, "cachingMode", Str),
        opt(4, "fsType", Str),
        opt(5, "readOnly", Bool),
        opt(6, "kind", Str),
    ],
);

pub static AZURE_FILE_VOLUME_SOURCE: Message = Message::new(
    "AzureFileVolumeSource",
    &[
        one(1, "secretName", Str),
        one(2, "shareName", Str),
        one(3, "readOnly", Bool),
    ],
);

pub static CSI_VOLUME_SOURCE: Message = Message::new(
    "CSIVolumeSource",
    &[
        one(1, "driver", Str),
        opt(2, "readOnly", Bool),
        opt(3, "fsType", Str),
        map(4, "volumeAttributes", Str),
        opt(
            5,
            "nodePublishSecretRef",
            Msg(&core::LOCAL_OBJECT_REFERENCE),
        ),
    ],
);

pub static CEPH_FS_VOLUME_SOURCE: Message = Message::new(
    "CephFSVolumeSource",
    &[
        list(1, "monitors", Str),
        one(2, "path", Str),
        one(3, "user", Str),
        one(4, "secretFile", Str),
        opt(5, "secretRef", Msg(&core::LOCAL_OBJECT_REFERENCE)),
        one(6, "readOnly", Bool),
    ],
);

pub static CINDER_VOLUME_SOURCE: Message = Message::new(
    "CinderVolumeSource",
    &[
        one(1, "volumeID", Str),
        one(2, "fsType", Str),
        one(3, "readOnly", Bool),
        opt(4, "secretRef", Msg(&core::LOCAL_OBJECT_REFERENCE)),
    ],
);

pub static CLUSTER_TRUST_BUNDLE_PROJECTION: Message = Message::new(
    "ClusterTrustBundleProjection",
    &[
        opt(1, "name", Str),
        opt(2, "signerName", Str),
        opt(3, "labelSelector", Msg(&meta::LABEL_SELECTOR)),
        one(4, "path", Str),
        opt(5, "optional", Bool),
    ],
);

pub static CONFIG_MAP_PROJECTION: Message = Message::new(
    "ConfigMapProjection",
    &[
        inline(1, "localObjectReference", &core::LOCAL_OBJECT_REFERENCE),
        list(2, "items", Msg(&KEY_TO_PATH)),
        opt(4, "optional", Bool),
    ],
);

pub static CONFIG_MAP_VOLUME_SOURCE: Message = Message::new(
    "ConfigMapVolumeSource",
    &[
        inline(1, "localObjectReference", &core::LOCAL_OBJECT_REFERENCE),
        list(2, "items", Msg(&KEY_TO_PATH)),
        opt(3, "defaultMode", I32),
        opt(4, "optional", Bool),
    ],
);

pub static DOWNWARD_API_PROJECTION: Message = Message::new(
    "DownwardAPIProjection",
    &[list(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE))],
);

pub static DOWNWARD_API_VOLUME_FILE: Message = Message::new(
    "DownwardAPIVolumeFile",
    &[
        one(1, "path", Str),
        opt(2, "fieldRef", Msg(&container::OBJECT_FIELD_SELECTOR)),
        opt(
            3,
            "resourceFieldRef",
            Msg(&container::RESOURCE_FIELD_SELECTOR),
        ),
        opt(4, "mode", I32),
    ],
);

pub static DOWNWARD_API_VOLUME_SOURCE: Message = Message::new(
    "DownwardAPIVolumeSource",
    &[
        list(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE)),
        opt(2, "defaultMode", I32),
    ],
);

pub static EMPTY_DIR_VOLUME_SOURCE: Message = Message::new(
    "EmptyDirVolumeSource",
    &[one(1, "medium", Str), opt(2, "sizeLimit", Quantity)],
);

pub static EPHEMERAL_VOLUME_SOURCE: Message = Message::new(
    "EphemeralVolumeSource",
    &[opt(
        1,
        "volumeClaimTemplate",
        Msg(&PERSISTENT_VOLUME_CLAIM_TEMPLATE),
    )],
);

pub static FC_VOLUME_SOURCE: Message = Message::new(
    "FCVolumeSource",
    &[
        list(1, "targetWWNs", Str),
        opt(2, "lun", I32),
        one(3, "fsType", Str),
        one(4, "readOnly", Bool),
        list(5, "wwids", Str),
    ],
);

pub static FLEX_VOLUME_SOURCE: Message = Message::new(
    "FlexVolumeSource",
    &[
        one(1, "driver", Str),
        one(2, "fsType", Str),
        opt(3, "secretRef", Msg(&core::LOCAL_OBJECT_REFERENCE)),
        one(4, "readOnly", Bool),
        map(5, "options", Str),
    ],
);

pub static FLOCKER_VOLUME_SOURCE: Message = Message::new(
    "FlockerVolumeSource",
    &[one(1, "datasetName", Str), one(2, "datasetUUID", Str)],
);

pub static GCE_PERSISTENT_DISK_VOLUME_SOURCE: Message = Message::new(
    "GCEPersistentDiskVolumeSource",
    &[
        one(1, "pdName", Str),
        one(2, "fsType", Str),
        one(3, "partition", I32),
        one(4, "readOnly", Bool),
    ],
);

pub static GIT_REPO_VOLUME_SOURCE: Message = Message::new(
    "GitRepoVolumeSource",
    &[
        one(1, "repository", Str),
        one(2, "revision", Str),
        one(3, "directory", Str),
    ],
);

pub static GLUSTERFS_VOLUME_SOURCE: Message = Message::new(
    "GlusterfsVolumeSource",
    &[
        one(1, "endpoints", Str),
        one(2, "path", Str),
        one(3, "readOnly", Bool),
    ],
);

pub static HOST_PATH_VOLUME_SOURCE: Message = Message::new(
    "HostPathVolumeSource",
    &[one(1, "path", Str), opt(2, "type", Str)],
);

pub static ISCSI_VOLUME_SOURCE: Message = Message::new(
    "ISCSIVolumeSource",
    &[
        one(1, "targetPortal", Str),
        one(2, "iqn", Str),
        one(3, "lun", I32),
        one(4, "iscsiInterface", Str),
        one(5, "fsType", Str),
        one(6, "readOnly", Bool),
        list(7, "portals", Str),
        one(8, "chapAuthDiscovery", Bool),
        opt(10, "secretRef", Msg(&core::LOCAL_OBJECT_REFERENCE)),
        one(11, "chapAuthSession", Bool),
        opt(12, "initiatorName", Str),
    ],
);

pub static IMAGE_VOLUME_SOURCE: Message = Message::new(
    "ImageVolumeSource",
    &[one(1, "reference", Str), one(2, "pullPolicy", Str)],
);

pub static KEY_TO_PATH: Message = Message::new(
    "KeyToPath",
    &[one(1, "key", Str), one(2, "path", Str), opt(3, "mode", I32)],
);

pub static NFS_VOLUME_SOURCE: Message = Message::new(
    "NFSVolumeSource",
    &[
        one(1, "server", Str),
        one(2, "path", Str),
        one(3, "readOnly", Bool),
    ],
);

pub static PERSISTENT_VOLUME_CLAIM_SPEC: Message = Message::new(
    "PersistentVolumeClaimSpec",
    &[
        list(1, "accessModes", Str),
        one(2, "resources", Msg(&VOLUME_RESOURCE_REQUIREMENTS)),
        one(3, "volumeName", Str),
        opt(4, "selector", Msg(&meta::LABEL_SELECTOR)),
        opt(5, "storageClassName", Str),
        opt(6, "volumeMode", Str),
        opt(7, "dataSource", Msg(&core::TYPED_LOCAL_OBJECT_REFERENCE)),
        opt(8, "dataSourceRef", Msg(&core::TYPED_OBJECT_REFERENCE)),
        opt(9, "volumeAttributesClassName", Str),
    ],
);

pub static PERSISTENT_VOLUME_CLAIM_TEMPLATE: Message = Message::new(
    "PersistentVolumeClaimTemplate",
    &[
        one(1, "metadata", Msg(&meta::OBJECT_META)),
        one(2, "spec", Msg(&PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
);

pub static PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Message = Message::new(
    "PersistentVolumeClaimVolumeSource",
    &[one(1, "claimName", Str), one(2, "readOnly", Bool)],
);

pub static PHOTON_PERSISTENT_DISK_VOLUME_SOURCE: Message = Message::new(
    "PhotonPersistentDiskVolumeSource",
    &[one(1, "pdID", Str), one(2, "fsType", Str)],
);

pub static PORTWORX_VOLUME_SOURCE: Message = Message::new(
    "PortworxVolumeSource",
    &[
        one(1, "volumeID", Str),
        one(2, "fsType", Str),
        one(3, "readOnly", Bool),
    ],
);

pub static PROJECTED_VOLUME_SOURCE: Message = Message::new(
    "ProjectedVolumeSource",
    &[
        list(1, "sources", Msg(&VOLUME_PROJECTION)),
        opt(2, "defaultMode", I32),
    ],
);

pub static QUOBYTE_VOLUME_SOURCE: Message = Message::new(
    "QuobyteVolumeSource",
    &[
        one(1, "registry", Str),
        one(2, "volume", Str),
        one(3, "readOnly", Bool),
        one(4, "user", Str),
        one(5, "group", Str),
        one(6, "tenant", Str),
    ],
);

pub static RBD_VOLUME_SOURCE: Message = Message::new(
    "RBDVolumeSource",
    &[
        list(1, "monitors", Str),
        one(2, "image", Str),
        one(3, "fsType", Str),
        one(4, "pool", Str),
        one(5, "user", Str),
        one(6, "keyring", Str),
        opt(7, "secretRef", Msg(&core::LOCAL_OBJECT_REFERENCE)),
        one(8, "readOnly", Bool),
    ],
);

pub static SCALE_IO_VOLUME_SOURCE: Message = Message::new(
    "ScaleIOVolumeSource",
    &[
        one(1, "gateway", Str),
        one(2, "system", Str),
        opt(3, "secretRef", Msg(&core::LOCAL_OBJECT_REFERENCE)),
        one(4, "sslEnabled", Bool),
        one(5, "protectionDomain", Str),
        one(6, "storagePool", Str),
        one(7, "storageMode", Str),
        one(8, "volumeName", Str),
        one(9, "fsType", Str),
        one(10, "readOnly", Bool),
    ],
);

pub static SECRET_PROJECTION: Message = Message::new(
    "SecretProjection",
    &[
        inline(1, "localObjectReference", &core::LOCAL_OBJECT_REFERENCE),
        list(2, "items", Msg(&KEY_TO_PATH)),
        opt(4, "optional", Bool),
    ],
);

pub static SECRET_VOLUME_SOURCE: Message = Message::new(
    "SecretVolumeSource",
    &[
        one(1, "secretName", Str),
        list(2, "items", Msg(&KEY_TO_PATH)),
        opt(3, "defaultMode", I32),
        opt(4, "optional", Bool),
    ],
);

pub static SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = Message::new(
    "ServiceAccountTokenProjection",
    &[
        one(1, "audience", Str),
        opt(2, "expirationSeconds", I64),
        one(3, "path", Str),
    ],
);

pub static STORAGE_OS_VOLUME_SOURCE: Message = Message::new(
    "StorageOSVolumeSource",
    &[
        one(1, "volumeName", Str),
        one(2, "volumeNamespace", Str),
        one(3, "fsType", Str),
        one(4, "readOnly", Bool),
        opt(5, "secretRef", Msg(&core::LOCAL_OBJECT_REFERENCE)),
    ],
);

pub static VOLUME_PROJECTION: Message = Message::new(
    "VolumeProjection",
    &[
        opt(1, "secret", Msg(&SECRET_PROJECTION)),
        opt(2, "downwardAPI", Msg(&DOWNWARD_API_PROJECTION)),
        opt(3, "configMap", Msg(&CONFIG_MAP_PROJECTION)),
        opt(
            4,
            "serviceAccountToken",
            Msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION),
        ),
        opt(
            5,
            "clusterTrustBundle",
            Msg(&CLUSTER_TRUST_BUNDLE_PROJECTION),
        ),
    ],
);

pub static VOLUME_RESOURCE_REQUIREMENTS: Message = Message::new(
    "VolumeResourceRequirements",
    &[map(1, "limits", Quantity), map(2, "requests", Quantity)],
);

pub static VOLUME_SOURCE: Message = Message::new(
    "VolumeSource",
    &[
        opt(1, "hostPath", Msg(&HOST_PATH_VOLUME_SOURCE)),
        opt(2, "emptyDir", Msg(&EMPTY_DIR_VOLUME_SOURCE)),
        opt(
            3,
            "gcePersistentDisk",
            Msg(&GCE_PERSISTENT_DISK_VOLUME_SOURCE),
        ),
        opt(
            4,
            "awsElasticBlockStore",
            Msg(&AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE),
        ),
        opt(5, "gitRepo", Msg(&GIT_REPO_VOLUME_SOURCE)),
        opt(6, "secret", Msg(&SECRET_VOLUME_SOURCE)),
        opt(7, "nfs", Msg(&NFS_VOLUME_SOURCE)),
        opt(8, "iscsi", Msg(&ISCSI_VOLUME_SOURCE)),
        opt(9, "glusterfs", Msg(&GLUSTERFS_VOLUME_SOURCE)),
        opt(
            10,
            "persistentVolumeClaim",
            Msg(&PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
        ),
        opt(11, "rbd", Msg(&RBD_VOLUME_SOURCE)),
        opt(12, "flexVolume", Msg(&FLEX_VOLUME_SOURCE)),
        opt(13, "cinder", Msg(&CINDER_VOLUME_SOURCE)),
        opt(14, "cephfs", Msg(&CEPH_FS_VOLUME_SOURCE)),
        opt(15, "flocker", Msg(&FLOCKER_VOLUME_SOURCE)),
        opt(16, "downwardAPI", Msg(&DOWNWARD_API_VOLUME_SOURCE)),
        opt(17, "fc", Msg(&FC_VOLUME_SOURCE)),
        opt(18, "azureFile", Msg(&AZURE_FILE_VOLUME_SOURCE)),
        opt(19, "configMap", Msg(&CONFIG_MAP_VOLUME_SOURCE)),
        opt(
            20,
            "vsphereVolume",
            Msg(&VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE),
        ),
        opt(21, "quobyte", Msg(&QUOBYTE_VOLUME_SOURCE)),
        opt(22, "azureDisk", Msg(&AZURE_DISK_VOLUME_SOURCE)),
        opt(
            23,
            "photonPersistentDisk",
            Msg(&PHOTON_PERSISTENT_DISK_VOLUME_SOURCE),
        ),
        opt(24, "portworxVolume", Msg(&PORTWORX_VOLUME_SOURCE)),
        opt(25, "scaleIO", Msg(&SCALE_IO_VOLUME_SOURCE)),
        opt(26, "projected", Msg(&PROJECTED_VOLUME_SOURCE)),
        opt(27, "storageos", Msg(&STORAGE_OS_VOLUME_SOURCE)),
        opt(28, "csi", Msg(&CSI_VOLUME_SOURCE)),
        opt(29, "ephemeral", Msg(&EPHEMERAL_VOLUME_SOURCE)),
        opt(30, "image", Msg(&IMAGE_VOLUME_SOURCE)),
    ],
);

pub static VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE: Message = Message::new(
    "VsphereVirtualDiskVolumeSource",
    &[
        one(1, "volumePath", Str),
        one(2, "fsType", Str),
        one(3, "storagePolicyName", Str),
        one(4, "storagePolicyID", Str),
    ],
);
