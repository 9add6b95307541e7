/**
 * The deployment files under deploy/ are not run by CI (no container engine,
 * no Kubernetes on these machines), so this checks what can be checked here:
 * every YAML and JSON file parses, the Compose file has its services wired,
 * and every metric the alerts and the dashboard use is one the gateway exports.
 * Helm templates are Go templates, not YAML, and are skipped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const root = fileURLToPath(new URL('..', import.meta.url));
const deployDir = join(root, 'deploy');
const helmTemplates = join('deploy', 'helm', 'switchyard', 'templates') + sep;

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : [path];
  });
}

const files = walk(deployDir).map((path) => relative(root, path));
const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f) && !f.startsWith(helmTemplates));
const jsonFiles = files.filter((f) => f.endsWith('.json'));

const read = (file: string) => readFileSync(join(root, file), 'utf8');
// Compose files use YAML anchors with merge keys (<<), a YAML 1.1 feature.
const parseYaml = (file: string) => parse(read(file), { merge: true, prettyErrors: true });

/** Series names the gateway exports: each `name: 'switchyard_...'`, and _bucket/_sum/_count for histograms. */
function exportedSeries(): Set<string> {
  const source = read(join('gateway', 'metrics.ts'));
  const series = new Set<string>();
  for (const match of source.matchAll(/new (Counter|Gauge|Histogram|Summary)\(\{\s*name:\s*'(switchyard_[a-z0-9_]+)'/g)) {
    const [, type] = match;
    const name = match[2]!;
    series.add(name);
    if (type === 'Histogram') for (const suffix of ['_bucket', '_sum', '_count']) series.add(name + suffix);
    if (type === 'Summary') for (const suffix of ['_sum', '_count']) series.add(name + suffix);
  }
  return series;
}

const metricNamesIn = (expr: string) => [...expr.matchAll(/\bswitchyard_[a-z0-9_]+/g)].map((m) => m[0]);

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string; for?: string }[] }[];
}
interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { expr: string; refId: string }[];
  panels?: GrafanaPanel[];
}

describe('deploy/ files', () => {
  it('finds the files it checks', () => {
    expect(yamlFiles).toEqual(
      expect.arrayContaining([
        'deploy/compose.yaml',
        'deploy/compose.nats-cluster.yaml',
        'deploy/prometheus/prometheus.yml',
        'deploy/prometheus/alerts.yml',
        'deploy/helm/switchyard/Chart.yaml',
        'deploy/helm/switchyard/values.yaml',
      ]),
    );
    expect(jsonFiles).toContain('deploy/grafana/switchyard-dashboard.json');
    expect(files).toContain('deploy/Containerfile');
  });

  it.each(yamlFiles)('%s is valid YAML', (file) => {
    const documents = parseAllDocuments(read(file), { merge: true });
    const list = Array.isArray(documents) ? documents : [documents];
    expect(list.length).toBeGreaterThan(0);
    for (const document of list) expect(document.errors.map((e) => e.message)).toEqual([]);
  });

  it.each(jsonFiles)('%s is valid JSON', (file) => {
    expect(() => JSON.parse(read(file))).not.toThrow();
  });

  it('gateway/metrics.ts exports the metrics this test expects to find', () => {
    const series = exportedSeries();
    for (const name of [
      'switchyard_jobs',
      'switchyard_graphql_operation_duration_seconds_bucket',
      'switchyard_nats_request_duration_seconds_count',
      'switchyard_job_submissions_total',
      'switchyard_provider_events_total',
      'switchyard_event_lag_seconds_bucket',
      'switchyard_provider_up',
      'switchyard_provider_circuit_open',
    ])
      expect(series).toContain(name);
  });

  describe('compose.yaml', () => {
    const compose = parseYaml('deploy/compose.yaml') as {
      services: Record<
        string,
        {
          image?: string;
          command?: string[];
          environment?: Record<string, string>;
          ports?: string[];
          healthcheck?: { test: string[] };
          volumes?: string[];
          profiles?: string[];
        }
      >;
      volumes: Record<string, unknown>;
    };
    const services = compose.services;

    it('has NATS, Redis, two gateways, a local provider, Prometheus and Grafana', () => {
      expect(Object.keys(services).sort()).toEqual(['gateway-1', 'gateway-2', 'grafana', 'nats', 'prometheus', 'provider-local', 'redis']);
      expect(services.nats?.image).toMatch(/nats:2\.9$/);
      expect(services.nats?.command).toContain('-js');
      expect(services.nats?.volumes?.some((v) => v.startsWith('nats-data:'))).toBe(true);
      expect(services.redis?.image).toMatch(/redis:7$/);
      expect(services.grafana?.profiles).toEqual(['grafana']);
      for (const volume of ['nats-data', 'redis-data', 'local-provider-state', 'prometheus-data', 'grafana-data'])
        expect(compose.volumes).toHaveProperty(volume);
    });

    it('runs two gateway replicas on host ports 8080 and 8081, checked on /readyz', () => {
      expect(services['gateway-1']?.ports).toEqual(['8080:8080']);
      expect(services['gateway-2']?.ports).toEqual(['8081:8080']);
      for (const name of ['gateway-1', 'gateway-2']) {
        const gateway = services[name]!;
        expect(gateway.command).toEqual(['gateway']);
        expect(gateway.environment).toMatchObject({ NATS_URL: 'nats://nats:4222', REDIS_URL: 'redis://redis:6379', PORT: '8080' });
        expect(gateway.environment?.SWITCHYARD_ADMIN_TOKEN).toMatch(/^\$\{SWITCHYARD_ADMIN_TOKEN:\?/);
        expect(gateway.healthcheck?.test.join(' ')).toContain('/readyz');
      }
    });

    it('runs one local provider joined over NATS', () => {
      const provider = services['provider-local']!;
      expect(provider.command).toEqual(['provider', 'local', '--id', 'local-1']);
      expect(provider.environment).toMatchObject({ NATS_URL: 'nats://nats:4222' });
      expect(provider.environment?.SWITCHYARD_LOCAL_STATE_DIR).toBeTruthy();
    });

    it('mounts files that exist', () => {
      for (const service of Object.values(services))
        for (const volume of service.volumes ?? []) {
          const source = volume.split(':')[0]!;
          if (source.startsWith('./')) expect(existsSync(join(deployDir, source)), `${source} exists under deploy/`).toBe(true);
          else expect(compose.volumes).toHaveProperty(source);
        }
    });
  });

  describe('compose.nats-cluster.yaml', () => {
    interface Service {
      image?: string;
      command?: string[];
      environment?: Record<string, string>;
      volumes?: string[];
    }
    const base = parseYaml('deploy/compose.yaml') as { services: Record<string, Service>; volumes: Record<string, unknown> };
    const cluster = parseYaml('deploy/compose.nats-cluster.yaml') as { services: Record<string, Service>; volumes: Record<string, unknown> };
    /** The services as Compose merges the override over the base: a command replaced, environments merged. */
    const merged = (name: string): Service => {
      const [under, over] = [base.services[name] ?? {}, cluster.services[name] ?? {}];
      return { ...under, ...over, environment: { ...under.environment, ...over.environment }, volumes: over.volumes ?? under.volumes };
    };
    const servers = ['nats', 'nats-2', 'nats-3'];
    const flag = (command: string[] | undefined, name: string) => command?.[command.indexOf(name) + 1];

    it('runs three JetStream servers clustered over routes naming all three, each with its own store', () => {
      const stores = new Set<string>();
      for (const name of servers) {
        const server = merged(name);
        expect(server.image, name).toMatch(/nats:2\.9$/);
        expect(server.command, name).toContain('-js');
        expect(flag(server.command, '--cluster_name'), name).toBe('switchyard');
        expect(flag(server.command, '--cluster'), name).toBe('nats://0.0.0.0:6222');
        expect(flag(server.command, '--routes')?.split(','), name).toEqual(servers.map((s) => `nats://${s}:6222`));
        const store = server.volumes?.find((v) => v.endsWith(':/data'))?.split(':')[0];
        expect(store, name).toBeTruthy();
        stores.add(store!);
        expect({ ...base.volumes, ...cluster.volumes }).toHaveProperty(store!);
      }
      expect(stores.size).toBe(3);
      expect(new Set(servers.map((name) => flag(merged(name).command, '--server_name'))).size).toBe(3);
    });

    it('gives the gateways and the provider every seed URL and three JetStream replicas', () => {
      for (const name of ['gateway-1', 'gateway-2', 'provider-local']) {
        const { environment } = merged(name);
        expect(environment?.NATS_URL?.split(','), name).toEqual(servers.map((s) => `nats://${s}:4222`));
        expect(environment?.SWITCHYARD_NATS_REPLICAS, name).toBe('3');
        // The rest of the base's environment stays.
        expect(environment?.SWITCHYARD_PREFIX, name).toBeTruthy();
      }
      expect(merged('gateway-1').environment?.REDIS_URL).toBe('redis://redis:6379');
    });
  });

  it('prometheus.yml scrapes both gateways and loads the alert rules', () => {
    const config = parseYaml('deploy/prometheus/prometheus.yml') as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const job = config.scrape_configs.find((c) => c.job_name === 'switchyard-gateway');
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job?.static_configs.flatMap((s) => s.targets)).toEqual(['gateway-1:8080', 'gateway-2:8080']);
    expect(config.rule_files).toContain('/etc/prometheus/alerts.yml');
  });

  describe('alerts.yml', () => {
    const rules = (parseYaml('deploy/prometheus/alerts.yml') as RuleFile).groups.flatMap((g) => g.rules);

    it('has the alerts the design calls for', () => {
      expect(rules.map((r) => r.alert)).toEqual(
        expect.arrayContaining([
          'SwitchyardProviderDown',
          'SwitchyardProviderCircuitOpen',
          'SwitchyardEventLagHigh',
          'SwitchyardGraphQLErrorRatioHigh',
        ]),
      );
      expect(rules.find((r) => r.alert === 'SwitchyardProviderDown')?.for).toBe('2m');
      expect(rules.find((r) => r.alert === 'SwitchyardEventLagHigh')?.expr).toMatch(/histogram_quantile\(0\.99,[\s\S]*> 5\s*$/);
      expect(rules.find((r) => r.alert === 'SwitchyardGraphQLErrorRatioHigh')?.expr).toMatch(/> 0\.05\s*$/);
    });

    it('uses only metrics the gateway exports', () => {
      const series = exportedSeries();
      const used = rules.flatMap((r) => metricNamesIn(r.expr));
      expect(used.length).toBeGreaterThan(0);
      expect(used.filter((name) => !series.has(name))).toEqual([]);
    });
  });

  describe('switchyard-dashboard.json', () => {
    const dashboard = JSON.parse(read('deploy/grafana/switchyard-dashboard.json')) as {
      uid: string;
      title: string;
      schemaVersion: number;
      panels: GrafanaPanel[];
    };
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

    it('is a dashboard with unique panel ids, each with a position and queries', () => {
      expect(dashboard.uid).toBeTruthy();
      expect(dashboard.title).toBeTruthy();
      expect(dashboard.schemaVersion).toBeGreaterThan(30);
      expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
      for (const panel of panels.filter((p) => p.type !== 'row')) {
        expect(panel.gridPos).toMatchObject({ h: expect.any(Number), w: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
        expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
        expect(panel.targets?.length).toBeGreaterThan(0);
      }
    });

    it('shows jobs, submissions, NATS latency, GraphQL latency, provider up and event lag', () => {
      const exprs = panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
      for (const name of [
        'switchyard_jobs',
        'switchyard_job_submissions_total',
        'switchyard_nats_request_duration_seconds_bucket',
        'switchyard_graphql_operation_duration_seconds_bucket',
        'switchyard_provider_up',
        'switchyard_event_lag_seconds_bucket',
      ])
        expect(exprs.some((expr) => metricNamesIn(expr).includes(name))).toBe(true);
    });

    it('uses only metrics the gateway exports', () => {
      const series = exportedSeries();
      const used = panels.flatMap((p) => p.targets ?? []).flatMap((t) => metricNamesIn(t.expr));
      expect(used.filter((name) => !series.has(name))).toEqual([]);
    });
  });

  it('the Helm chart declares NATS and Redis as optional dependencies and defaults to two gateways', () => {
    const chart = parseYaml('deploy/helm/switchyard/Chart.yaml') as { apiVersion: string; dependencies: { name: string; condition: string }[] };
    const values = parseYaml('deploy/helm/switchyard/values.yaml') as {
      gateway: { replicas: number };
      providers: { kind: string; id: string; replicas: number }[];
      serviceMonitor: { enabled: boolean };
      nats: { enabled: boolean };
      natsReplicas: string | number;
      redis: { enabled: boolean };
    };
    expect(chart.apiVersion).toBe('v2');
    expect(chart.dependencies.map((d) => [d.name, d.condition])).toEqual([
      ['nats', 'nats.enabled'],
      ['redis', 'redis.enabled'],
    ]);
    expect(values.gateway.replicas).toBe(2);
    // NATS: a three-server JetStream cluster, every server a seed, the stream and bucket at R3.
    expect(values.nats).toMatchObject({ config: { cluster: { enabled: true, replicas: 3 }, jetstream: { enabled: true } } });
    expect(values.natsReplicas).toBe('');
    const helpers = read('deploy/helm/switchyard/templates/_helpers.tpl');
    expect(helpers).toContain('printf "nats://%s-%d.%s-headless:4222" $fullname $i $fullname');
    expect(helpers).toContain('min 5 (int .Values.nats.config.cluster.replicas)');
    for (const template of ['gateway-deployment.yaml', 'provider-deployments.yaml']) {
      const text = read(join('deploy', 'helm', 'switchyard', 'templates', template));
      expect(text, template).toMatch(/- name: NATS_URL\s+value: \{\{ include "switchyard\.natsUrl"/);
      expect(text, template).toMatch(/- name: SWITCHYARD_NATS_REPLICAS\s+value: \{\{ include "switchyard\.natsReplicas"/);
    }
    expect(values.providers).toEqual([{ kind: 'local', id: 'local-1', replicas: 1 }]);
    expect(values.serviceMonitor.enabled).toBe(false);
  });
});
