// Deployment files, checked statically (no Docker engine here): Dockerfile, docker-compose.yml,
// build.sh, .dockerignore and k8s/*.yaml parse, set only variables the server knows, probe
// paths the server answers, and keep the security settings the README promises.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { REPO_ROOT, request, runBinary, useServer } from './lib/server.js';

const read = (p) => fs.readFileSync(path.join(REPO_ROOT, p), 'utf8');

/** Every variable the server reads, from --env-example (commented lines are unset defaults). */
function configVars() {
  const r = runBinary(['--env-example']);
  assert.equal(r.code, 0, r.stderr);
  const names = new Set();
  for (const line of r.stdout.split('\n')) {
    const m = /^(?:# )?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (m) names.add(m[1]);
  }
  assert.ok(names.size > 50, `--env-example lists the variables (${names.size})`);
  return names;
}

/** ENV names and values of the Dockerfile's last stage (the runtime image). */
function dockerfile() {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stages = [];
  for (const l of lines) {
    if (/^FROM\s/i.test(l)) stages.push({ from: l.split(/\s+/)[1], lines: [] });
    else stages.at(-1).lines.push(l);
  }
  const last = stages.at(-1);
  const env = {};
  for (const l of last.lines.filter((x) => /^ENV\s/i.test(x))) {
    for (const m of l.slice(4).matchAll(/([A-Z][A-Z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return { stages, last, env, lines };
}

function k8sDocs() {
  const docs = [];
  for (const f of fs.readdirSync(path.join(REPO_ROOT, 'k8s')).filter((x) => /\.ya?ml$/.test(x))) {
    for (const d of parseAllDocuments(read(`k8s/${f}`))) {
      assert.equal(d.errors.length, 0, `k8s/${f}: ${d.errors.join('; ')}`);
      const js = d.toJS();
      if (js) docs.push({ file: f, ...js });
    }
  }
  return docs;
}

describe('deployment files', () => {
  const vars = configVars();
  const ctx = useServer({});
  const probePaths = new Set();

  it('Dockerfile: multi-stage on Debian 12, non-root, HOST=0.0.0.0, health check on /health/live', () => {
    const { stages, last, env } = dockerfile();
    assert.ok(stages.length >= 2, 'multi-stage');
    for (const s of stages) assert.match(s.from, /^debian:12/, `stage base ${s.from}`);
    const build = stages[0].lines.join('\n');
    assert.match(build, /scripts\/deps\.sh build/);
    assert.match(build, /\bmake\b/);
    assert.equal(env.HOST, '0.0.0.0');
    for (const k of Object.keys(env)) assert.ok(vars.has(k), `Dockerfile ENV ${k} is a configuration variable`);
    const user = last.lines.find((l) => /^USER\s/i.test(l));
    assert.ok(user && !/^USER\s+(root|0)(:|$)/i.test(user), `non-root USER (${user})`);
    const expose = last.lines.find((l) => /^EXPOSE\s/i.test(l));
    assert.equal(expose.split(/\s+/)[1], env.PORT, 'EXPOSE matches PORT');
    const hc = last.lines.find((l) => /^HEALTHCHECK\s/i.test(l));
    const m = /http:\/\/127\.0\.0\.1:(\d+)(\/\S*)/.exec(hc || '');
    assert.ok(m, `HEALTHCHECK calls the server: ${hc}`);
    assert.equal(m[1], env.PORT);
    assert.equal(m[2], '/health/live');
    probePaths.add(m[2]);
    // The runtime stage installs no compiler or -dev package.
    assert.ok(!/build-essential|-dev\b|\bgcc\b/.test(last.lines.join('\n')), 'runtime stage has no toolchain');
  });

  it('.dockerignore keeps build output, dependencies and git out of the context', () => {
    const ign = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const p of ['.git', 'build', 'third_party', 'tests/e2e/node_modules', '.env']) assert.ok(ign.includes(p), p);
  });

  it('build.sh: executable, valid bash, tags from its argument', () => {
    const st = fs.statSync(path.join(REPO_ROOT, 'build.sh'));
    assert.ok(st.mode & 0o100, 'executable');
    const r = spawnSync('bash', ['-n', path.join(REPO_ROOT, 'build.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(read('build.sh'), /--tag "\$image:\$tag"/);
    // A malformed tag is refused before docker is needed.
    const bad = spawnSync('bash', [path.join(REPO_ROOT, 'build.sh'), 'not a tag'], { encoding: 'utf8' });
    assert.equal(bad.status, 2, bad.stderr);
  });

  it('docker-compose.yml: PostgreSQL, MinIO and the backend wired through the same variables', () => {
    const c = parseYaml(read('docker-compose.yml'));
    for (const s of ['postgres', 'minio', 'backend']) assert.ok(c.services[s], `service ${s}`);
    const b = c.services.backend;
    const env = b.environment;
    for (const k of Object.keys(env)) assert.ok(vars.has(k), `backend variable ${k} is a configuration variable`);
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(env.DB_POSTGRES_HOST, 'postgres', 'the catalog is the postgres service');
    assert.equal(env.STORAGE_MINIO_ENDPOINT.split(':')[0], 'minio', 'storage is the minio service');
    assert.equal(env.STORAGE_BACKEND, 's3');
    // The same credentials reach PostgreSQL/MinIO and the backend.
    const pg = c.services.postgres.environment;
    assert.equal(pg.POSTGRES_PASSWORD, env.DB_POSTGRES_PASSWORD);
    assert.equal(pg.POSTGRES_USER, env.DB_POSTGRES_USER);
    assert.equal(pg.POSTGRES_DB, env.DB_POSTGRES_DB);
    const mi = c.services.minio.environment;
    assert.equal(mi.MINIO_ROOT_USER, env.STORAGE_MINIO_ACCESS_KEY);
    assert.equal(mi.MINIO_ROOT_PASSWORD, env.STORAGE_MINIO_SECRET_KEY);
    assert.equal(b.depends_on.postgres.condition, 'service_healthy');
    const hc = b.healthcheck.test.join(' ');
    const m = /http:\/\/127\.0\.0\.1:(\d+)(\/\S*)/.exec(hc);
    assert.ok(m, hc);
    assert.equal(m[1], env.PORT);
    probePaths.add(m[2]);
    assert.ok(b.ports.some((p) => String(p).endsWith(`:${env.PORT}`)));
  });

  it('k8s: Deployment (3 replicas, 512Mi/500m, hardened, probes, anti-affinity, volumes), Service, Secrets, Ingress', () => {
    const docs = k8sDocs();
    const of = (kind) => docs.filter((d) => d.kind === kind);
    const [dep] = of('Deployment');
    assert.ok(dep, 'a Deployment');
    const spec = dep.spec;
    assert.equal(spec.replicas, 3);
    const pod = spec.template.spec;
    const [ctr] = pod.containers;
    assert.equal(ctr.resources.limits.memory, '512Mi');
    assert.equal(ctr.resources.limits.cpu, '500m');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(pod.securityContext.runAsUser > 0);
    assert.equal(ctr.securityContext.readOnlyRootFilesystem, true);
    assert.equal(ctr.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(ctr.securityContext.capabilities.drop, ['ALL']);
    const aa = pod.affinity.podAntiAffinity;
    const terms = [...(aa.requiredDuringSchedulingIgnoredDuringExecution || []), ...(aa.preferredDuringSchedulingIgnoredDuringExecution || []).map((t) => t.podAffinityTerm)];
    assert.ok(terms.some((t) => t.labelSelector.matchLabels.app === spec.template.metadata.labels.app), 'anti-affinity on our own pods');
    const port = ctr.ports.find((p) => p.name === 'http');
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const g = ctr[probe]?.httpGet;
      assert.ok(g, `${probe} over HTTP`);
      assert.ok(g.port === 'http' || g.port === port.containerPort, `${probe} port`);
      probePaths.add(g.path);
    }
    assert.equal(ctr.livenessProbe.httpGet.path, '/health/live');
    assert.equal(ctr.readinessProbe.httpGet.path, '/health/ready');
    // Volumes for data and logs, and a writable /tmp since the root filesystem is read-only.
    const mounts = Object.fromEntries(ctr.volumeMounts.map((m) => [m.name, m.mountPath]));
    const env = Object.fromEntries(ctr.env.map((e) => [e.name, e]));
    assert.equal(mounts.data, env.DATA_DIR.value, 'DATA_DIR is the data volume');
    assert.ok(mounts.logs, 'a logs volume');
    for (const v of ctr.volumeMounts) assert.ok(pod.volumes.some((x) => x.name === v.name), `volume ${v.name}`);
    // Every variable is known; every secret reference points at a key of a Secret template.
    const secrets = Object.fromEntries(of('Secret').map((s) => [s.metadata.name, s.stringData || s.data]));
    assert.ok(secrets['postgres-credentials'] && secrets['minio-credentials'], 'Secret templates');
    for (const e of ctr.env) {
      assert.ok(vars.has(e.name), `container variable ${e.name} is a configuration variable`);
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) assert.ok(secrets[ref.name] && ref.key in secrets[ref.name], `${e.name}: secret ${ref.name}/${ref.key}`);
    }
    for (const s of Object.values(secrets)) for (const v of Object.values(s)) assert.ok(!/minioadmin|postgrespassword/.test(v), 'templates hold placeholders only');
    assert.equal(env.HOST.value, '0.0.0.0');
    assert.equal(String(port.containerPort), env.PORT.value);
    // Service selects the pods; Ingress reaches the Service with buffering off for SSE.
    const [svc] = of('Service');
    assert.deepEqual(svc.spec.selector, spec.selector.matchLabels);
    assert.ok(svc.spec.ports.some((p) => p.targetPort === 'http'));
    const [ing] = of('Ingress');
    const a = ing.metadata.annotations;
    assert.equal(a['nginx.ingress.kubernetes.io/proxy-buffering'], 'off');
    assert.ok(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout']) >= 3600);
    const backend = ing.spec.rules[0].http.paths[0].backend.service;
    assert.equal(backend.name, svc.metadata.name);
    const scrape = dep.spec.template.metadata.annotations?.['prometheus.io/path'];
    if (scrape) probePaths.add(scrape);
  });

  it('every probe and health-check path is a route the server answers with 200', async () => {
    assert.ok(probePaths.size >= 2, [...probePaths].join(' '));
    for (const p of probePaths) {
      const r = await request(ctx.server.url(p));
      assert.equal(r.status, 200, `${p}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  });
});
