"""Generated cluster content for the benchmarks: a realistic mix of objects, about 1 KiB each.

ConfigMaps, Secrets, Services, Deployments and custom resources of one CRD,
spread over NAMESPACES namespaces. Names, labels, images, config values,
checksums and secret bytes vary from object to object (seeded, so every run
generates the same objects): the archive compresses like real manifests, not
like repeated filler.
"""

import base64
import random

NAMESPACES = 20
CRD_GROUP = "bench.kubesafe.io"
CRD_KIND = "AppConfig"
CRD_PLURAL = "appconfigs"
# Out of every 20 objects: 6 ConfigMaps, 4 Secrets, 3 Services, 3 Deployments, 4 AppConfigs.
MIX = ("ConfigMap",) * 6 + ("Secret",) * 4 + ("Service",) * 3 + ("Deployment",) * 3 + (CRD_KIND,) * 4

_WORDS = ("alpha", "bravo", "cache", "delta", "edge", "frontend", "gateway", "health", "ingest", "jobs", "kafka",
          "ledger", "metrics", "notify", "orders", "payments", "queue", "report", "search", "tenant", "users",
          "vault", "worker", "export", "billing", "catalog", "session", "profile", "upload", "render")
_TEAMS = ("platform", "checkout", "identity", "data", "growth", "infra", "mobile", "risk")
_REGISTRIES = ("registry.example.com", "ghcr.io/example", "quay.io/example", "123456789012.dkr.ecr.eu-west-1.amazonaws.com")


def crd():
    """The CustomResourceDefinition of the generated custom resources."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "%s.%s" % (CRD_PLURAL, CRD_GROUP)},
        "spec": {
            "group": CRD_GROUP, "scope": "Namespaced",
            "names": {"kind": CRD_KIND, "listKind": CRD_KIND + "List", "plural": CRD_PLURAL, "singular": CRD_KIND.lower()},
            "versions": [{"name": "v1", "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }


class Generator:
    def __init__(self, seed=1, namespaces=NAMESPACES):
        self._random = random.Random(seed)
        self._namespaces = namespaces

    def _hex(self, length):
        return "%0*x" % (length, self._random.getrandbits(4 * length))

    def _app(self):
        pick = self._random.choice
        return "%s-%s" % (pick(_WORDS), pick(_WORDS))

    def _metadata(self, kind, index, app):
        pick = self._random.choice
        return {
            "name": "%s-%s-%06d" % (app, kind.lower(), index),
            "namespace": "bench-%02d" % (index % self._namespaces),
            "labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": pick(_WORDS),
                       "app.kubernetes.io/version": "%d.%d.%d" % (self._random.randint(1, 9), self._random.randint(0, 40), self._random.randint(0, 99)),
                       "team": pick(_TEAMS), "environment": pick(("prod", "staging", "dev"))},
            "annotations": {"example.com/owner": "%s@example.com" % pick(_TEAMS),
                            "example.com/config-checksum": "sha256:" + self._hex(64)},
        }

    def _config_text(self, lines):
        pick = self._random.choice
        return "".join("%s.%s=%s\n" % (pick(_WORDS), pick(_WORDS), pick((str(self._random.randint(0, 100000)), pick(_WORDS), "true", "false", self._hex(12))))
                       for _line in range(lines))

    def _configmap(self, index, app):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self._metadata("ConfigMap", index, app),
                "data": {"application.properties": self._config_text(self._random.randint(12, 18)),
                         "LOG_LEVEL": self._random.choice(("info", "debug", "warn")),
                         "FEATURE_FLAGS": ",".join(self._random.sample(_WORDS, 4))}}

    def _secret_bytes(self, size):
        return base64.b64encode(self._random.getrandbits(8 * size).to_bytes(size, "little")).decode()

    def _secret(self, index, app):
        secret_bytes = self._secret_bytes
        return {"apiVersion": "v1", "kind": "Secret", "metadata": self._metadata("Secret", index, app), "type": "Opaque",
                "data": {"username": base64.b64encode(("svc-%s" % app).encode()).decode(), "password": secret_bytes(24),
                         "api-token": secret_bytes(self._random.randint(150, 230)), "tls.key.fingerprint": secret_bytes(32)}}

    def _service(self, index, app):
        port = self._random.choice((80, 443, 8080, 8443, 9090, 5432, 6379))
        return {"apiVersion": "v1", "kind": "Service", "metadata": self._metadata("Service", index, app),
                "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": app},
                         "ports": [{"name": "http", "port": port, "targetPort": port + self._random.randint(0, 10), "protocol": "TCP"},
                                   {"name": "metrics", "port": 9100, "targetPort": "metrics", "protocol": "TCP"}],
                         "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                         "internalTrafficPolicy": "Cluster"}}

    def _deployment(self, index, app):
        pick = self._random.choice
        labels = {"app.kubernetes.io/name": app}
        tag = "%d.%d.%d-%s" % (self._random.randint(1, 9), self._random.randint(0, 40), self._random.randint(0, 99), self._hex(7))
        container = {
            "name": app.split("-")[0],
            "image": "%s/%s:%s" % (pick(_REGISTRIES), app, tag),
            "ports": [{"containerPort": self._random.choice((8080, 8443, 9090)), "name": "http"}],
            "env": [{"name": "%s_%s" % (pick(_WORDS).upper(), pick(_WORDS).upper()), "value": pick((pick(_WORDS), str(self._random.randint(1, 5000))))}
                    for _env in range(self._random.randint(2, 5))],
            "resources": {"requests": {"cpu": "%dm" % self._random.choice((50, 100, 250, 500)), "memory": "%dMi" % self._random.choice((64, 128, 256, 512))},
                          "limits": {"memory": "%dMi" % self._random.choice((256, 512, 1024))}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": self._random.choice((5, 10, 15))},
        }
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self._metadata("Deployment", index, app),
                "spec": {"replicas": self._random.randint(1, 5), "selector": {"matchLabels": labels},
                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [container], "serviceAccountName": "default"}}}}

    def _appconfig(self, index, app):
        pick = self._random.choice
        return {"apiVersion": "%s/v1" % CRD_GROUP, "kind": CRD_KIND, "metadata": self._metadata(CRD_KIND, index, app),
                "spec": {"owner": pick(_TEAMS), "tier": pick(("gold", "silver", "bronze")),
                         "routes": [{"host": "%s.%s.example.com" % (pick(_WORDS), pick(_WORDS)), "path": "/%s/%s" % (pick(_WORDS), self._hex(6)),
                                     "weight": self._random.randint(1, 100)} for _route in range(self._random.randint(3, 6))],
                         "limits": {"rps": self._random.randint(10, 5000), "burst": self._random.randint(10, 500)}}}

    def objects(self, count):
        """``count`` objects (the CRD not included), in a repeating kind mix."""
        makers = {"ConfigMap": self._configmap, "Secret": self._secret, "Service": self._service,
                  "Deployment": self._deployment, CRD_KIND: self._appconfig}
        for index in range(count):
            yield makers[MIX[index % len(MIX)]](index, self._app())


def seed_workload(emulator, count, seed=1, namespaces=NAMESPACES):
    """Create the CRD and ``count`` generated objects in ``namespaces`` namespaces of the emulator (plus what it adds per namespace)."""
    emulator.seed([crd()])
    emulator.seed(Generator(seed, namespaces).objects(count))
