"""Karpenter's v1 CRD schemas (spec only) for NodePool and EC2NodeClass, as JSON Schema.

Transcribed from the OpenAPI schemas published for Karpenter's v1 API in datreeio/CRDs-catalog
(karpenter.sh/nodepool_v1.json at 3a9b1ef3, karpenter.k8s.aws/ec2nodeclass_v1.json at 1d209c44; the
v1 API with capacity reservations and volume initialization rates, as the pinned 1.9 line serves).
Descriptions, the status subtree and the CEL rules (``x-kubernetes-validations``, which only the
API server evaluates) are left out; types, enums, patterns, limits, required fields and
``additionalProperties: false`` are kept as published.
"""

from __future__ import annotations

from typing import Any

_LABEL_KEY = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?"
              r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_QUANTITY = (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
             r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")
_DURATION = r"^(([0-9]+(s|m|h))+|Never)$"
_EVICTION = (r"^((\d{1,2}(\.\d{1,2})?|100(\.0{1,2})?)%||(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
             r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?)$")


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _string_map(max_properties: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
    if max_properties:
        schema["maxProperties"] = max_properties
    return schema


_TAINT = _obj({
    "effect": {"type": "string", "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
    "key": {"type": "string", "minLength": 1, "pattern": _LABEL_KEY},
    "timeAdded": {"type": "string", "format": "date-time"},
    "value": {"type": "string", "pattern": _LABEL_KEY},
}, ["effect", "key"])

_QUANTITY_MAP = {"type": "object", "additionalProperties": {
    "anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": _QUANTITY}}

NODE_POOL: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": _obj({
            "disruption": _obj({
                "budgets": {"type": "array", "maxItems": 50, "items": _obj({
                    "duration": {"type": "string", "pattern": r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$"},
                    "nodes": {"type": "string", "pattern": r"^((100|[0-9]{1,2})%|[0-9]+)$"},
                    "reasons": {"type": "array", "items": {
                        "type": "string", "enum": ["Underutilized", "Empty", "Drifted"]}},
                    "schedule": {"type": "string", "pattern": r"^(@(annually|yearly|monthly|weekly|daily|midnight"
                                                              r"|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$"},
                }, ["nodes"])},
                "consolidateAfter": {"type": "string", "pattern": _DURATION},
                "consolidationPolicy": {"type": "string", "enum": ["WhenEmpty", "WhenEmptyOrUnderutilized"]},
            }, ["consolidateAfter"]),
            "limits": _QUANTITY_MAP,
            "template": _obj({
                "metadata": _obj({
                    "annotations": _string_map(),
                    "labels": {"type": "object", "maxProperties": 100, "additionalProperties": {
                        "type": "string", "maxLength": 63,
                        "pattern": r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"}},
                }),
                "spec": _obj({
                    "expireAfter": {"type": "string", "pattern": _DURATION},
                    "nodeClassRef": _obj({
                        "group": {"type": "string", "pattern": r"^[^/]*$"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                    }, ["group", "kind", "name"]),
                    "requirements": {"type": "array", "maxItems": 100, "items": _obj({
                        "key": {"type": "string", "maxLength": 316, "pattern": _LABEL_KEY},
                        "minValues": {"type": "integer", "minimum": 1, "maximum": 50},
                        "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
                        "values": {"type": "array", "items": {"type": "string"}},
                    }, ["key", "operator"])},
                    "startupTaints": {"type": "array", "items": _TAINT},
                    "taints": {"type": "array", "items": _TAINT},
                    "terminationGracePeriod": {"type": "string", "pattern": r"^([0-9]+(s|m|h))+$"},
                }, ["nodeClassRef", "requirements"]),
            }, ["spec"]),
            "weight": {"type": "integer", "minimum": 1, "maximum": 100},
        }, ["template"]),
    },
}

_SELECTOR_TAGS = {"type": "object", "maxProperties": 20, "additionalProperties": {"type": "string"}}
_RESERVED = {"type": "object", "additionalProperties": {"type": "string", "pattern": _QUANTITY}}
_EVICTION_MAP = {"type": "object", "additionalProperties": {"type": "string", "pattern": _EVICTION}}

EC2_NODE_CLASS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": _obj({
            "amiFamily": {"type": "string",
                          "enum": ["AL2", "AL2023", "Bottlerocket", "Custom", "Windows2019", "Windows2022"]},
            "amiSelectorTerms": {"type": "array", "minItems": 1, "maxItems": 30, "items": _obj({
                "alias": {"type": "string", "maxLength": 30},
                "id": {"type": "string", "pattern": r"ami-[0-9a-z]+"},
                "name": {"type": "string"},
                "owner": {"type": "string"},
                "ssmParameter": {"type": "string"},
                "tags": _SELECTOR_TAGS,
            })},
            "associatePublicIPAddress": {"type": "boolean"},
            "blockDeviceMappings": {"type": "array", "maxItems": 50, "items": _obj({
                "deviceName": {"type": "string"},
                "ebs": _obj({
                    "deleteOnTermination": {"type": "boolean"},
                    "encrypted": {"type": "boolean"},
                    "iops": {"type": "integer"},
                    "kmsKeyID": {"type": "string"},
                    "snapshotID": {"type": "string"},
                    "throughput": {"type": "integer"},
                    "volumeInitializationRate": {"type": "integer", "minimum": 100, "maximum": 300},
                    "volumeSize": {"type": "string", "pattern": (
                        r"^((?:[1-9][0-9]{0,3}|[1-4][0-9]{4}|[5][0-8][0-9]{3}|59000)Gi|(?:[1-9][0-9]{0,3}|"
                        r"[1-5][0-9]{4}|[6][0-3][0-9]{3}|64000)G|([1-9]||[1-5][0-7]|58)Ti|([1-9]||[1-5][0-9]|"
                        r"6[0-3]|64)T)$")},
                    "volumeType": {"type": "string", "enum": ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"]},
                }),
                "rootVolume": {"type": "boolean"},
            })},
            "capacityReservationSelectorTerms": {"type": "array", "maxItems": 30, "items": _obj({
                "id": {"type": "string", "pattern": r"^cr-[0-9a-z]+$"},
                "ownerID": {"type": "string", "pattern": r"^[0-9]{12}$"},
                "tags": _SELECTOR_TAGS,
            })},
            "context": {"type": "string"},
            "detailedMonitoring": {"type": "boolean"},
            "instanceProfile": {"type": "string"},
            "instanceStorePolicy": {"type": "string", "enum": ["RAID0"]},
            "kubelet": _obj({
                "clusterDNS": {"type": "array", "items": {"type": "string"}},
                "cpuCFSQuota": {"type": "boolean"},
                "evictionHard": _EVICTION_MAP,
                "evictionMaxPodGracePeriod": {"type": "integer"},
                "evictionSoft": _EVICTION_MAP,
                "evictionSoftGracePeriod": _string_map(),
                "imageGCHighThresholdPercent": {"type": "integer", "minimum": 0, "maximum": 100},
                "imageGCLowThresholdPercent": {"type": "integer", "minimum": 0, "maximum": 100},
                "kubeReserved": _RESERVED,
                "maxPods": {"type": "integer", "minimum": 0},
                "podsPerCore": {"type": "integer", "minimum": 0},
                "systemReserved": _RESERVED,
            }),
            "metadataOptions": _obj({
                "httpEndpoint": {"type": "string", "enum": ["enabled", "disabled"]},
                "httpProtocolIPv6": {"type": "string", "enum": ["enabled", "disabled"]},
                "httpPutResponseHopLimit": {"type": "integer", "minimum": 1, "maximum": 64},
                "httpTokens": {"type": "string", "enum": ["required", "optional"]},
            }),
            "role": {"type": "string"},
            "securityGroupSelectorTerms": {"type": "array", "maxItems": 30, "items": _obj({
                "id": {"type": "string", "pattern": r"sg-[0-9a-z]+"},
                "name": {"type": "string"},
                "tags": _SELECTOR_TAGS,
            })},
            "subnetSelectorTerms": {"type": "array", "maxItems": 30, "items": _obj({
                "id": {"type": "string", "pattern": r"subnet-[0-9a-z]+"},
                "tags": _SELECTOR_TAGS,
            })},
            "tags": _string_map(),
            "userData": {"type": "string"},
        }, ["amiSelectorTerms", "securityGroupSelectorTerms", "subnetSelectorTerms"]),
    },
}
