/**
 * The Kubernetes manifests, checked offline. Every kustomization under k8s/ is rendered with
 * `kubectl kustomize` and every object is validated against its schema with kubernetes-models
 * (no kind may go unvalidated). Then, per overlay: the probes, the Service, the ServiceMonitor and
 * the NetworkPolicy all point at the container port HTTP_PORT opens, and at the only paths the
 * app serves; the grace period covers the drain; the pods meet the "restricted" pod security
 * standard; every variable handed to the pods is one the service reads, and the ConfigMap plus the
 * Secret example pass the service's own start-up validation; the templates ConfigMap carries the
 * repository's templates; the autoscalers target the Deployment and the consumer groups and topics
 * the service uses. Finally the alerts: the PrometheusRule and docs/alerts/omnigate-rules.yaml
 * agree, each alert has a runbook section, and alerts and dashboard use only exported metrics.
 * Needs kubectl on PATH (or KUBECTL=/path/to/kubectl); runs promtool's rule tests when installed.
 */
import { METRIC_NAMES } from '../src/observability/metrics';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { DEFAULT_TOPICS } from '@omnigate/contracts';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { isServiceVariable, loadConfig } from '../src/config/environment';
import { TemplateRepository } from '../src/repositories/template.repository';

const ROOT = join(__dirname, '..');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

const BASE = 'k8s/base';
const OVERLAYS = ['k8s/overlays/dev', 'k8s/overlays/prod', 'k8s/overlays/prod-hpa'] as const;
const KUSTOMIZATIONS = [BASE, ...OVERLAYS] as const;
type Kustomization = (typeof KUSTOMIZATIONS)[number];

const SECRET_EXAMPLE = join(ROOT, 'k8s/base/secret.example.yaml');
const RULES_FILE = join(ROOT, 'docs/alerts/omnigate-rules.yaml');
const RULES_TEST_FILE = join(ROOT, 'docs/alerts/omnigate-rules.test.yaml');
const RUNBOOKS_FILE = join(ROOT, 'docs/runbooks.md');
const DASHBOARD_FILE = join(ROOT, 'docs/grafana/omnigate-dashboard.json');
const TEMPLATES_DIR_IN_REPO = join(ROOT, 'templates');
const RUNBOOK_URL_PREFIX = 'https://github.com/omnigate/omnigate/blob/main/docs/runbooks.md#';

/** Every path the app serves on its HTTP port for probes and scraping (src/controllers). */
const APP_PATHS = ['/health/live', '/health/ready', '/metrics'] as const;
/** The service's defaults for variables the ConfigMap may leave unset (src/config/environment.ts). */
const DEFAULT_HTTP_PORT = 8080;
const DEFAULT_SHUTDOWN_GRACE_MS = 25000;
const DEFAULT_GROUP_ID = 'omnigate-dispatch';
/** Partitions of the production send topics: more consumers than this in a group sit idle. */
const PRODUCTION_PARTITIONS = 12;
const IMAGE = 'ghcr.io/omnigate/omnigate';

/** The alerts the operations issue asks for; each needs a section in docs/runbooks.md. */
const REQUIRED_ALERTS = [
  'OmnigateBreakerOpen',
  'OmnigateConsumerLagGrowing',
  'OmnigateOutboxBacklog',
  'OmnigateDeadLetterRate',
  'OmnigateRecordsSetAside',
  'OmnigateReceiptFailureRatio',
  'OmnigateEventLoopLag',
  'OmnigateSchedulerBacklogGrowing',
  'OmnigateNoReadyReplica',
  'OmnigateTargetDown',
];

// ---------------------------------------------------------------------------------------------
// Rendering and schema validation

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly [field: string]: unknown };
  readonly [field: string]: unknown;
}

function isManifest(value: unknown): value is Manifest {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const metadata = v['metadata'] as Record<string, unknown> | undefined;
  return (
    typeof v['apiVersion'] === 'string' &&
    typeof v['kind'] === 'string' &&
    typeof metadata?.['name'] === 'string'
  );
}

function parseManifests(text: string, source: string): Manifest[] {
  return parseAllDocuments(text).map((document, index) => {
    if (document.errors.length > 0) {
      throw new Error(`${source}, document ${index}: ${document.errors.join('; ')}`);
    }
    const value: unknown = document.toJS();
    if (!isManifest(value)) {
      throw new Error(`${source}, document ${index}: not a Kubernetes object with a name`);
    }
    return value;
  });
}

function render(dir: Kustomization): Manifest[] {
  const result = spawnSync(KUBECTL, ['kustomize', join(ROOT, dir)], {
    encoding: 'utf8',
    maxBuffer: 32 * 1024 * 1024,
  });
  if (result.error) {
    throw new Error(`cannot run ${KUBECTL} to render ${dir}: ${result.error.message}`);
  }
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  return parseManifests(result.stdout, dir);
}

/** Modules of kubernetes-models and its third-party packages, by import specifier. */
interface ModelModules {
  'kubernetes-models/v1': typeof import('kubernetes-models/v1');
  'kubernetes-models/apps/v1': typeof import('kubernetes-models/apps/v1');
  'kubernetes-models/policy/v1': typeof import('kubernetes-models/policy/v1');
  'kubernetes-models/networking.k8s.io/v1': typeof import('kubernetes-models/networking.k8s.io/v1');
  'kubernetes-models/autoscaling/v2': typeof import('kubernetes-models/autoscaling/v2');
  '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1': typeof import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1');
  '@kubernetes-models/keda/keda.sh/v1alpha1': typeof import('@kubernetes-models/keda/keda.sh/v1alpha1');
}

interface ModelRef {
  readonly module: string;
  readonly exportName: string;
}

/** Type-checked: the export must exist in that module's type declarations. */
function model<M extends keyof ModelModules>(
  module: M,
  exportName: Extract<keyof ModelModules[M], string>,
): ModelRef {
  return { module, exportName };
}

/** apiVersion/kind → the model class whose validate() checks it. A kind not listed fails. */
const MODELS: Readonly<Record<string, ModelRef>> = {
  'v1/ConfigMap': model('kubernetes-models/v1', 'ConfigMap'),
  'v1/Secret': model('kubernetes-models/v1', 'Secret'),
  'v1/Service': model('kubernetes-models/v1', 'Service'),
  'apps/v1/Deployment': model('kubernetes-models/apps/v1', 'Deployment'),
  'policy/v1/PodDisruptionBudget': model('kubernetes-models/policy/v1', 'PodDisruptionBudget'),
  'networking.k8s.io/v1/Ingress': model('kubernetes-models/networking.k8s.io/v1', 'Ingress'),
  'networking.k8s.io/v1/NetworkPolicy': model(
    'kubernetes-models/networking.k8s.io/v1',
    'NetworkPolicy',
  ),
  'autoscaling/v2/HorizontalPodAutoscaler': model(
    'kubernetes-models/autoscaling/v2',
    'HorizontalPodAutoscaler',
  ),
  'monitoring.coreos.com/v1/ServiceMonitor': model(
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
    'ServiceMonitor',
  ),
  'monitoring.coreos.com/v1/PrometheusRule': model(
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
    'PrometheusRule',
  ),
  'keda.sh/v1alpha1/ScaledObject': model(
    '@kubernetes-models/keda/keda.sh/v1alpha1',
    'ScaledObject',
  ),
};

/**
 * kubernetes-models 5 and the prometheus-operator models are ES modules only, which jest's
 * CommonJS runtime cannot load (without --experimental-vm-modules), so validation runs in a plain
 * Node child process: it imports each model by the specifiers above and calls validate().
 */
const VALIDATE_SCRIPT = `
import { readFileSync } from 'node:fs';
const jobs = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const { module, exportName, object } of jobs) {
  try {
    const Model = (await import(module))[exportName];
    if (typeof Model !== 'function') throw new Error(module + ' exports no ' + exportName);
    new Model(object).validate();
    results.push(null);
  } catch (error) {
    results.push(error instanceof Error ? error.message : String(error));
  }
}
process.stdout.write(JSON.stringify(results));
`;

/** Schema problems per object (null: valid; a string naming a missing validator otherwise). */
function validateAll(objects: readonly Manifest[]): Array<string | null> {
  const jobs = objects.map((object) => {
    const ref = MODELS[`${object.apiVersion}/${object.kind}`];
    return ref ? { ...ref, object } : undefined;
  });
  const known = jobs.filter((job) => job !== undefined);
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', VALIDATE_SCRIPT], {
    cwd: ROOT,
    input: JSON.stringify(known),
    encoding: 'utf8',
    maxBuffer: 32 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`schema validation did not run:\n${result.stderr}`);
  const answers = JSON.parse(result.stdout) as Array<string | null>;
  let next = 0;
  return jobs.map((job, i) =>
    job
      ? (answers[next++] ?? null)
      : `no schema validator for ${objects[i]?.apiVersion}/${objects[i]?.kind}: add it to MODELS`,
  );
}

// ---------------------------------------------------------------------------------------------
// Typed access to the rendered objects (their shape is checked by the schemas first)

function all<T>(objects: readonly Manifest[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as unknown as T[];
}

function one<T>(objects: readonly Manifest[], kind: string): T {
  const found = all<T>(objects, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
}

function configMap(objects: readonly Manifest[], name: string): IConfigMap {
  const found = all<IConfigMap>(objects, 'ConfigMap').find((c) => c.metadata?.name === name);
  if (!found) throw new Error(`no ConfigMap ${name}`);
  return found;
}

function podSpec(deployment: IDeployment): IPodSpec {
  const spec = deployment.spec?.template.spec;
  if (!spec) throw new Error('the Deployment has no pod spec');
  return spec;
}

function gatewayContainer(deployment: IDeployment): IContainer {
  const containers = podSpec(deployment).containers;
  const container = containers.find((c) => c.name === 'omnigate') ?? containers[0];
  if (!container) throw new Error('the Deployment has no container');
  return container;
}

/** The variables the pod gets from ConfigMaps through envFrom (the Secret is the example's). */
function configEnvironment(objects: readonly Manifest[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of gatewayContainer(one<IDeployment>(objects, 'Deployment')).envFrom ?? []) {
    if (source.configMapRef)
      Object.assign(env, configMap(objects, source.configMapRef.name ?? '').data);
  }
  return env;
}

function secretExample(): ISecret {
  const [secret, ...rest] = parseManifests(readFileSync(SECRET_EXAMPLE, 'utf8'), SECRET_EXAMPLE);
  if (!secret || rest.length > 0 || secret.kind !== 'Secret') {
    throw new Error(`${SECRET_EXAMPLE} must hold exactly one Secret`);
  }
  return secret as unknown as ISecret;
}

function secretEntries(secret: ISecret): Record<string, string> {
  const decoded = Object.fromEntries(
    Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
  );
  return { ...decoded, ...secret.stringData };
}

/** A named or numbered port of the container, as a number. */
function resolvePort(container: IContainer, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

function seconds(value: string): number {
  const match = /^(\d+)(s|m|h)$/.exec(value);
  if (!match) throw new Error(`not a duration: ${value}`);
  return Number(match[1]) * { s: 1, m: 60, h: 3600 }[match[2] as 's' | 'm' | 'h'];
}

function cpuMillis(quantity: string | number | undefined): number {
  if (quantity === undefined) return Infinity;
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) : Number(text) * 1000;
}

function memoryBytes(quantity: string | number | undefined): number {
  if (quantity === undefined) return Infinity;
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(String(quantity));
  if (!match) throw new Error(`unexpected memory quantity ${quantity}`);
  const units: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
  return Number(match[1]) * (units[match[2] ?? ''] ?? 1);
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>) {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Metric names in a PromQL expression, histogram series folded onto their histogram. */
function metricNames(expr: string): string[] {
  const names = expr.match(/\b(?:omnigate|nodejs|process)_[a-z0-9_]+\b/g) ?? [];
  return [...new Set(names)];
}

function isExported(name: string, exported: ReadonlySet<string>): boolean {
  if (exported.has(name)) return true;
  const histogram = /^(.*)_(bucket|sum|count)$/.exec(name);
  return histogram !== null && exported.has(histogram[1]!);
}

/** What prom-client's collectDefaultMetrics() exports (the service calls it). */
function nodeDefaultMetricNames(): Set<string> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const names = new Set(registry.getMetricsAsArray().map((m) => m.name));
  registry.clear();
  return names;
}

/** GitHub's anchor for a Markdown heading. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/**
 * The Secret example's placeholders, replaced by values of the right format, so the ConfigMap
 * plus the example's keys can go through the service's own start-up validation.
 */
const FAKE_SECRET_VALUES: Readonly<Record<string, string>> = {
  MESSAGE_LOG_KEY: Buffer.alloc(32, 1).toString('base64'),
  ADMIN_API_KEYS: JSON.stringify([{ id: 'support-1', role: 'agent', sha256: '0'.repeat(64) }]),
  PROVIDER_TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
  PROVIDER_FCM_SERVICE_ACCOUNT_JSON: JSON.stringify({
    project_id: 'fake',
    client_email: 'fake@fake.iam.gserviceaccount.com',
    private_key: '-----BEGIN PRIVATE KEY-----\nfake\n-----END PRIVATE KEY-----\n',
  }),
};

// ---------------------------------------------------------------------------------------------

const rendered = new Map<Kustomization, Manifest[]>();
const problems = new Map<Kustomization, Array<string | null>>();

function objectsOf(dir: Kustomization): Manifest[] {
  const objects = rendered.get(dir);
  if (!objects) throw new Error(`${dir} was not rendered`);
  return objects;
}

beforeAll(() => {
  for (const dir of KUSTOMIZATIONS) rendered.set(dir, render(dir));
  // One child process for every object of every kustomization.
  const everything = KUSTOMIZATIONS.flatMap((dir) => objectsOf(dir));
  const answers = validateAll([...everything, secretExample() as unknown as Manifest]);
  let offset = 0;
  for (const dir of KUSTOMIZATIONS) {
    const count = objectsOf(dir).length;
    problems.set(dir, answers.slice(offset, offset + count));
    offset += count;
  }
  problems.set(BASE, [...(problems.get(BASE) ?? []), answers[offset] ?? null]);
});

describe('schema validation', () => {
  it('rejects a broken object, so a pass below means something', () => {
    const broken = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'broken' },
      spec: {
        selector: {},
        template: { spec: { containers: [{ name: 'x', ports: [{ containerPort: 'http' }] }] } },
      },
    };
    const unknownKind = { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'g' } };
    const [deploymentProblem, kindProblem] = validateAll([broken, unknownKind]);
    expect(deploymentProblem).toMatch(/containerPort must be integer/);
    expect(kindProblem).toMatch(/no schema validator for example.com\/v1\/Gadget/);
  });

  it.each(KUSTOMIZATIONS)(
    '%s renders, and every object (and the Secret example) passes its schema',
    (dir) => {
      const objects = objectsOf(dir);
      const names = [
        ...objects.map((o) => `${o.kind}/${o.metadata.name}`),
        ...(dir === BASE ? ['Secret example'] : []),
      ];
      const failures = (problems.get(dir) ?? [])
        .map((problem, i) => (problem ? `${names[i]}: ${problem}` : undefined))
        .filter((line) => line !== undefined);
      expect(failures).toEqual([]);
      expect(objects.map((o) => o.kind)).toEqual(
        expect.arrayContaining([
          'ConfigMap',
          'Service',
          'Deployment',
          'PodDisruptionBudget',
          'NetworkPolicy',
          'Ingress',
          'ServiceMonitor',
          'PrometheusRule',
        ]),
      );
    },
  );
});

describe.each(KUSTOMIZATIONS)('%s', (dir) => {
  const objects = (): Manifest[] => objectsOf(dir);
  const deployment = (): IDeployment => one<IDeployment>(objects(), 'Deployment');
  const httpPort = (): number => {
    const raw = configEnvironment(objects())['HTTP_PORT'];
    return raw === undefined ? DEFAULT_HTTP_PORT : Number(raw);
  };

  it('probes /health/live and /health/ready on the container port HTTP_PORT opens', () => {
    const container = gatewayContainer(deployment());
    const probes = {
      startup: container.startupProbe?.httpGet,
      liveness: container.livenessProbe?.httpGet,
      readiness: container.readinessProbe?.httpGet,
    };
    expect(probes.startup?.path).toBe('/health/live');
    expect(probes.liveness?.path).toBe('/health/live');
    expect(probes.readiness?.path).toBe('/health/ready');
    for (const probe of Object.values(probes)) {
      expect(APP_PATHS).toContain(probe?.path);
      // A named port, so a port change is made in one place.
      expect(typeof probe?.port).toBe('string');
      expect(resolvePort(container, probe?.port)).toBe(httpPort());
    }
  });

  it('points the Service, the ServiceMonitor and the NetworkPolicy at that same port', () => {
    const container = gatewayContainer(deployment());
    const service = one<IService>(objects(), 'Service');
    const monitor = one<IServiceMonitor>(objects(), 'ServiceMonitor');
    const servicePorts = service.spec?.ports ?? [];
    for (const port of servicePorts) {
      expect(resolvePort(container, port.targetPort)).toBe(httpPort());
    }
    const endpoints = monitor.spec.endpoints ?? [];
    expect(endpoints.length).toBeGreaterThan(0);
    for (const endpoint of endpoints) {
      const servicePort = servicePorts.find((p) => p.name === endpoint.port);
      expect(servicePort).toBeDefined();
      expect(resolvePort(container, servicePort?.targetPort)).toBe(httpPort());
      expect(endpoint.path).toBe('/metrics');
      expect(APP_PATHS).toContain(endpoint.path);
      expect(endpoint.interval).toBe('30s');
    }
    const policy = one<INetworkPolicy>(objects(), 'NetworkPolicy');
    const ingressPorts = (policy.spec?.ingress ?? []).flatMap((rule) => rule.ports ?? []);
    expect(ingressPorts.length).toBeGreaterThan(0);
    for (const port of ingressPorts) expect(resolvePort(container, port.port)).toBe(httpPort());
  });

  it('selects the pods consistently (Deployment, Service, PDB, NetworkPolicy, ServiceMonitor)', () => {
    const labels = deployment().spec?.template.metadata?.labels ?? {};
    const service = one<IService>(objects(), 'Service');
    expect(matches(deployment().spec?.selector.matchLabels, labels)).toBe(true);
    expect(matches(service.spec?.selector, labels)).toBe(true);
    expect(
      matches(
        one<IPodDisruptionBudget>(objects(), 'PodDisruptionBudget').spec?.selector?.matchLabels,
        labels,
      ),
    ).toBe(true);
    expect(
      matches(
        one<INetworkPolicy>(objects(), 'NetworkPolicy').spec?.podSelector?.matchLabels,
        labels,
      ),
    ).toBe(true);
    expect(
      matches(
        one<IServiceMonitor>(objects(), 'ServiceMonitor').spec.selector.matchLabels,
        service.metadata?.labels ?? {},
      ),
    ).toBe(true);
    for (const constraint of podSpec(deployment()).topologySpreadConstraints ?? []) {
      expect(matches(constraint.labelSelector?.matchLabels, labels)).toBe(true);
    }
    const keys = (podSpec(deployment()).topologySpreadConstraints ?? []).map((c) => c.topologyKey);
    expect(keys).toEqual(
      expect.arrayContaining(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']),
    );
  });

  it('gives the drain its time: grace period > SHUTDOWN_GRACE_MS + the preStop pause', () => {
    const raw = configEnvironment(objects())['SHUTDOWN_GRACE_MS'];
    const graceMs = raw === undefined ? DEFAULT_SHUTDOWN_GRACE_MS : Number(raw);
    const preStop = gatewayContainer(deployment()).lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStop).toBeGreaterThan(0);
    const period = podSpec(deployment()).terminationGracePeriodSeconds ?? 30;
    expect(period).toBeGreaterThan(graceMs / 1000 + preStop);
  });

  it('runs under the "restricted" pod security standard, read-only but for /tmp', () => {
    const pod = podSpec(deployment());
    const container = gatewayContainer(deployment());
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBe(1000);
    expect(pod.securityContext?.runAsGroup).toBe(1000);
    const seccomp =
      container.securityContext?.seccompProfile?.type ?? pod.securityContext?.seccompProfile?.type;
    expect(seccomp).toBe('RuntimeDefault');
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostIPC ?? false).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
      expect(c.securityContext?.privileged ?? false).toBe(false);
      expect(c.securityContext?.capabilities?.drop).toContain('ALL');
      expect(c.securityContext?.capabilities?.add ?? []).toEqual([]);
      expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(c.securityContext?.runAsUser ?? 1000).not.toBe(0);
    }
    expect((pod.volumes ?? []).filter((v) => v.hostPath)).toEqual([]);
    const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
    expect(tmp?.readOnly ?? false).toBe(false);
    expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
  });

  it('hands the pods only variables the service reads', () => {
    const container = gatewayContainer(deployment());
    const names: string[] = [];
    for (const source of container.envFrom ?? []) {
      expect(source.prefix).toBeUndefined();
      if (source.configMapRef) {
        names.push(...Object.keys(configMap(objects(), source.configMapRef.name ?? '').data ?? {}));
      }
      if (source.secretRef) {
        // The real Secret is created outside git; its shape is the example's.
        expect(source.secretRef.name).toBe(secretExample().metadata?.name);
        names.push(...Object.keys(secretEntries(secretExample())));
      }
    }
    for (const variable of container.env ?? []) names.push(variable.name);
    expect(names).toEqual(expect.arrayContaining(['KAFKA_BROKERS', 'MESSAGE_LOG_KEY']));
    expect(names.filter((name) => !isServiceVariable(name))).toEqual([]);
  });

  it("passes the service's start-up validation with the ConfigMap and the Secret's keys", () => {
    const secret = secretEntries(secretExample());
    const env = { ...configEnvironment(objects()), ...secret, ...FAKE_SECRET_VALUES };
    // Only fakes for keys the example has: a key added here must exist there too.
    expect(Object.keys(secret)).toEqual(expect.arrayContaining(Object.keys(FAKE_SECRET_VALUES)));
    const result = loadConfig(env);
    expect(result.ok ? [] : result.problems).toEqual([]);
  });

  it('mounts the repository templates at TEMPLATES_DIR, and they compile', () => {
    const templatesDir = configEnvironment(objects())['TEMPLATES_DIR'];
    expect(templatesDir).toBe('/app/templates');
    const pod = podSpec(deployment());
    const mount = gatewayContainer(deployment()).volumeMounts?.find(
      (m) => m.mountPath === templatesDir,
    );
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    const templates = configMap(objects(), volume?.configMap?.name ?? '(none)');
    const expected = Object.fromEntries(
      readdirSync(TEMPLATES_DIR_IN_REPO)
        .filter((f) => f.endsWith('.json'))
        .map((f) => [f, readFileSync(join(TEMPLATES_DIR_IN_REPO, f), 'utf8')]),
    );
    // k8s/base/templates/ are copies (kustomize reads no file outside k8s/base): keep them equal.
    expect(templates.data).toEqual(expected);
    const scratch = mkdtempSync(join(tmpdir(), 'omnigate-templates-'));
    try {
      for (const [file, text] of Object.entries(templates.data ?? {})) {
        writeFileSync(join(scratch, file), text);
      }
      const repository = new TemplateRepository(scratch);
      expect(repository.size).toBeGreaterThan(0);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('denies by default and lets out only DNS, Kafka, Redis, PostgreSQL, OTLP and HTTPS', () => {
    const policy = one<INetworkPolicy>(objects(), 'NetworkPolicy');
    expect(policy.spec?.policyTypes).toEqual(expect.arrayContaining(['Ingress', 'Egress']));
    const egress = policy.spec?.egress ?? [];
    const allowed = egress.flatMap((rule) =>
      (rule.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${String(p.port)}`),
    );
    expect(allowed.sort()).toEqual(
      ['TCP/53', 'UDP/53', 'TCP/9092', 'TCP/6379', 'TCP/5432', 'TCP/4318', 'TCP/443'].sort(),
    );
    const dns = egress.find((rule) => rule.ports?.some((p) => p.port === 53));
    // Exactly kube-dns in kube-system (kustomize's includeSelectors would add the app's label).
    expect(dns?.to).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ]);
    const https = egress.find((rule) => rule.ports?.some((p) => p.port === 443));
    const ipv4 = https?.to?.find((peer) => peer.ipBlock?.cidr === '0.0.0.0/0');
    expect(ipv4?.ipBlock?.except).toEqual(
      expect.arrayContaining(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']),
    );
    expect(https?.to?.every((peer) => peer.ipBlock !== undefined)).toBe(true);
    const sources = (policy.spec?.ingress ?? []).flatMap((rule) => rule.from ?? []);
    expect(sources.length).toBeGreaterThan(0);
    // Ingress from named namespaces only, never from everywhere.
    for (const source of sources) expect(source.namespaceSelector?.matchLabels).toBeDefined();
  });

  it('exposes only /webhooks/ through the Ingress, on the host of WEBHOOK_PUBLIC_BASE_URL, over TLS', () => {
    const ingress = one<IIngress>(objects(), 'Ingress');
    const service = one<IService>(objects(), 'Service');
    const rules = ingress.spec?.rules ?? [];
    const paths = rules.flatMap((rule) => rule.http?.paths ?? []);
    expect(paths.map((p) => [p.path, p.pathType])).toEqual([['/webhooks/', 'Prefix']]);
    for (const path of paths) {
      expect(path.backend.service?.name).toBe(service.metadata?.name);
      expect(path.backend.service?.port?.name).toBe('http');
    }
    expect(ingress.spec?.defaultBackend).toBeUndefined();
    const base = configEnvironment(objects())['WEBHOOK_PUBLIC_BASE_URL'];
    expect(base).toBeDefined();
    const publicUrl = new URL(base!);
    expect(publicUrl.protocol).toBe('https:');
    expect(rules.map((rule) => rule.host)).toEqual([publicUrl.hostname]);
    expect(ingress.spec?.tls?.flatMap((tls) => tls.hosts ?? [])).toContain(publicUrl.hostname);
    // The path the providers call stays under the Ingress's prefix (no path in the base URL).
    expect(`${publicUrl.pathname.replace(/\/$/, '')}/webhooks/`).toBe('/webhooks/');
  });

  it('keeps a disruption budget that still lets nodes drain', () => {
    const pdb = one<IPodDisruptionBudget>(objects(), 'PodDisruptionBudget');
    const replicas = deployment().spec?.replicas;
    if (pdb.spec?.maxUnavailable !== undefined) expect(pdb.spec.maxUnavailable).toBe(1);
    else expect(Number(pdb.spec?.minAvailable)).toBeLessThan(replicas ?? 2);
  });

  it('uses the same alerting rules as the base', () => {
    const rule = one<IPrometheusRule>(objects(), 'PrometheusRule');
    expect(rule.spec).toEqual(one<IPrometheusRule>(objectsOf(BASE), 'PrometheusRule').spec);
  });
});

describe.each(OVERLAYS)('%s image', (dir) => {
  it(`runs ${IMAGE} at a pinned tag`, () => {
    const image = gatewayContainer(one<IDeployment>(objectsOf(dir), 'Deployment')).image ?? '';
    const match = /^(.+):([^:/]+)$/.exec(image);
    expect(match?.[1]).toBe(IMAGE);
    expect(match?.[2]).not.toBe('latest');
  });
});

describe('overlays', () => {
  it('dev: one replica, debug logs, topics created at start, smaller requests, no autoscaler', () => {
    const objects = objectsOf('k8s/overlays/dev');
    const deployment = one<IDeployment>(objects, 'Deployment');
    const env = configEnvironment(objects);
    expect(deployment.spec?.replicas).toBe(1);
    expect(env['LOG_LEVEL']).toBe('debug');
    expect(env['KAFKA_CREATE_TOPICS']).toBe('true');
    expect(all(objects, 'ScaledObject')).toEqual([]);
    expect(all(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    const dev = gatewayContainer(deployment).resources;
    const base = gatewayContainer(one<IDeployment>(objectsOf(BASE), 'Deployment')).resources;
    expect(cpuMillis(dev?.requests?.['cpu'])).toBeLessThan(cpuMillis(base?.requests?.['cpu']));
    expect(memoryBytes(dev?.requests?.['memory'])).toBeLessThan(
      memoryBytes(base?.requests?.['memory']),
    );
  });

  it('prod: KEDA scales the Deployment on the lag of the send and priority consumer groups', () => {
    const objects = objectsOf('k8s/overlays/prod');
    const deployment = one<IDeployment>(objects, 'Deployment');
    const scaled = one<IScaledObject>(objects, 'ScaledObject');
    const env = configEnvironment(objects);
    expect(all(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    // The autoscaler owns the count: a replicas field would reset it on every apply.
    expect(deployment.spec?.replicas).toBeUndefined();
    expect(scaled.spec.scaleTargetRef.name).toBe(deployment.metadata?.name);
    expect(scaled.spec.scaleTargetRef.kind ?? 'Deployment').toBe('Deployment');
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(2);
    expect(scaled.spec.maxReplicaCount).toBeLessThanOrEqual(PRODUCTION_PARTITIONS);
    expect(scaled.spec.fallback?.replicas).toBeGreaterThan(0);
    const behavior = scaled.spec.advanced?.horizontalPodAutoscalerConfig?.behavior;
    expect(behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThan(0);

    const group = env['KAFKA_GROUP_ID'] ?? DEFAULT_GROUP_ID;
    const lanes = [
      { group, topic: env['TOPIC_SEND'] ?? DEFAULT_TOPICS.send },
      {
        group: env['KAFKA_PRIORITY_GROUP_ID'] || `${group}-priority`,
        topic: env['TOPIC_SEND_PRIORITY'] ?? DEFAULT_TOPICS.sendPriority,
      },
    ];
    const triggers = scaled.spec.triggers.map((t): Record<string, string> => ({
      type: t.type,
      ...t.metadata,
    }));
    expect(triggers).toHaveLength(lanes.length);
    for (const lane of lanes) {
      const trigger = triggers.find((t) => t['consumerGroup'] === lane.group);
      expect(trigger).toMatchObject({
        type: 'kafka',
        consumerGroup: lane.group,
        topic: lane.topic,
        bootstrapServers: env['KAFKA_BROKERS'],
      });
      expect(Number(trigger?.['lagThreshold'])).toBeGreaterThan(0);
    }
  });

  it('prod-hpa: a CPU HorizontalPodAutoscaler instead of KEDA, and otherwise exactly prod', () => {
    const objects = objectsOf('k8s/overlays/prod-hpa');
    const deployment = one<IDeployment>(objects, 'Deployment');
    const hpa = one<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
    expect(all(objects, 'ScaledObject')).toEqual([]);
    expect(deployment.spec?.replicas).toBeUndefined();
    expect(hpa.spec?.scaleTargetRef).toMatchObject({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata?.name,
    });
    expect(hpa.spec?.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec?.maxReplicas).toBeLessThanOrEqual(PRODUCTION_PARTITIONS);
    expect(hpa.spec?.metrics).toEqual([
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
      },
    ]);
    expect(hpa.spec?.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThan(0);
    const withoutAutoscaler = (list: Manifest[]) =>
      list.filter((o) => !['ScaledObject', 'HorizontalPodAutoscaler'].includes(o.kind));
    expect(withoutAutoscaler(objects)).toEqual(withoutAutoscaler(objectsOf('k8s/overlays/prod')));
  });
});

describe('the Secret example', () => {
  it('holds the required keys, as obvious placeholders only', () => {
    const entries = secretEntries(secretExample());
    expect(Object.keys(entries)).toEqual(
      expect.arrayContaining(['MESSAGE_LOG_KEY', 'DATABASE_URL', 'ADMIN_API_KEYS']),
    );
    // Provider credentials: every non-log provider the base ConfigMap names has a key here.
    const providers = Object.entries(configEnvironment(objectsOf(BASE)))
      .filter(([name]) => name.startsWith('PROVIDERS_'))
      .flatMap(([, ids]) => ids.split(','))
      .filter((id) => id !== 'log');
    for (const id of new Set(providers)) {
      const keys = Object.keys(entries).filter((k) =>
        k.startsWith(`PROVIDER_${id.toUpperCase()}_`),
      );
      expect(keys).not.toEqual([]);
    }
    for (const [name, value] of Object.entries(entries)) {
      expect(isServiceVariable(name)).toBe(true);
      // A placeholder, and nothing that looks like key material (long base64 or hex runs).
      expect({ name, placeholder: value.includes('CHANGE_ME') }).toEqual({
        name,
        placeholder: true,
      });
      expect({
        name,
        keyLike: /[A-Za-z0-9+/=]{24,}/.test(value.replace(/CHANGE_ME\w*/g, '')),
      }).toEqual({ name, keyLike: false });
    }
  });

  it('is not deployed by the kustomizations (real Secrets live outside git)', () => {
    for (const dir of KUSTOMIZATIONS) expect(all(objectsOf(dir), 'Secret')).toEqual([]);
  });
});

describe('alerts, runbooks and dashboard', () => {
  const prometheusRule = (): IPrometheusRule =>
    one<IPrometheusRule>(objectsOf(BASE), 'PrometheusRule');
  const alerts = () =>
    (prometheusRule().spec.groups ?? []).flatMap((group) =>
      (group.rules ?? []).filter((rule) => rule.alert !== undefined),
    );
  const exportedNames = (): Set<string> => new Set([...METRIC_NAMES, ...nodeDefaultMetricNames()]);

  it('docs/alerts/omnigate-rules.yaml holds exactly the PrometheusRule groups', () => {
    const groups = prometheusRule().spec.groups;
    if (process.env.OMNIGATE_WRITE_ALERT_RULES === '1') writeRulesFile(groups);
    expect(parse(readFileSync(RULES_FILE, 'utf8'))).toEqual({ groups });
  });

  it('has every alert the operations issue asks for, each with its annotations', () => {
    expect(alerts().map((a) => a.alert)).toEqual(expect.arrayContaining(REQUIRED_ALERTS));
    for (const alert of alerts()) {
      expect(alert.labels?.['severity']).toMatch(/^(warning|critical)$/);
      expect(alert.annotations?.['summary']).toBeTruthy();
      expect(alert.annotations?.['description']).toBeTruthy();
      expect(alert.annotations?.['runbook_url']).toBe(
        `${RUNBOOK_URL_PREFIX}${anchorOf(String(alert.alert))}`,
      );
      expect(seconds(String(alert.for ?? '0s'))).toBeGreaterThanOrEqual(5 * 60);
    }
  });

  it('has a runbook section for every alert, and no section without one', () => {
    const headings = readFileSync(RUNBOOKS_FILE, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('## '))
      .map((line) => anchorOf(line.slice(3)));
    const anchors = alerts().map((a) => String(a.annotations?.['runbook_url']).split('#')[1]);
    expect(headings.sort()).toEqual(anchors.sort());
  });

  it('uses only metrics the service exports, and names its own Service and Deployment', () => {
    const exported = exportedNames();
    const unknown = alerts()
      .flatMap((a) => metricNames(String(a.expr)))
      .filter((name) => !isExported(name, exported));
    expect(unknown).toEqual([]);
    const service = one<IService>(objectsOf(BASE), 'Service').metadata?.name;
    const deployment = one<IDeployment>(objectsOf(BASE), 'Deployment').metadata?.name;
    const exprs = alerts().map((a) => String(a.expr));
    for (const expr of exprs) {
      for (const [, job] of expr.matchAll(/\bjob="([^"]+)"/g)) expect(job).toBe(service);
      for (const [, name] of expr.matchAll(/\bdeployment="([^"]+)"/g))
        expect(name).toBe(deployment);
    }
  });

  it('has a dashboard on a prometheus datasource variable with the four golden signals', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as GrafanaDashboard;
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const datasource = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).toEqual(['Traffic', 'Errors', 'Latency', 'Saturation']);
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    for (const panel of panels) expect(panel.datasource?.uid).toBe('${datasource}');
    const exported = exportedNames();
    const used = [...new Set(exprs.flatMap(metricNames))];
    expect(used.filter((name) => !isExported(name, exported))).toEqual([]);
    // Every metric of the contract has a place on the dashboard.
    const omnigate = used.map((n) => n.replace(/_(bucket|sum|count)$/, ''));
    expect(METRIC_NAMES.filter((name) => !omnigate.includes(name))).toEqual([]);
    expect(exprs.some((e) => e.includes('histogram_quantile(0.99'))).toBe(true);
  });

  it('promtool accepts the rules file and its unit tests', () => {
    // Debian's prometheus package brings promtool; .ci/run installs it.
    const promtool = findOnPath('promtool');
    if (!promtool) throw new Error('promtool is not on PATH: apt-get install prometheus');
    for (const args of [
      ['check', 'rules', RULES_FILE],
      ['test', 'rules', RULES_TEST_FILE],
    ]) {
      const result = spawnSync(promtool, args, { encoding: 'utf8' });
      expect({ args, output: result.status === 0 ? '' : result.stdout + result.stderr }).toEqual({
        args,
        output: '',
      });
    }
  });
});

interface GrafanaDashboard {
  readonly schemaVersion: number;
  readonly templating: {
    readonly list: ReadonlyArray<{ name: string; type: string; query?: unknown }>;
  };
  readonly panels: ReadonlyArray<{
    type: string;
    title: string;
    datasource?: { type?: string; uid?: string };
    targets?: ReadonlyArray<{ expr: string }>;
  }>;
}

function findOnPath(command: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, command))
    .find((path) => existsSync(path));
}

/** Regenerates the plain rules file from the PrometheusRule (OMNIGATE_WRITE_ALERT_RULES=1). */
function writeRulesFile(groups: IPrometheusRule['spec']['groups']): void {
  const header = [
    '# Generated from k8s/base/prometheusrule.yaml (its spec.groups) for a Prometheus without the',
    '# operator (`rule_files: [omnigate-rules.yaml]`). Do not edit: change the PrometheusRule, then',
    '# run `OMNIGATE_WRITE_ALERT_RULES=1 npx jest test/k8s-manifests.test.ts`; the test fails while',
    '# the two differ. Unit tests for promtool: omnigate-rules.test.yaml.',
    '',
  ].join('\n');
  // The source file rather than the rendered one, to keep its key order (alert, expr, for, ...).
  const source = parse(readFileSync(join(ROOT, 'k8s/base/prometheusrule.yaml'), 'utf8')) as {
    spec: { groups: unknown };
  };
  expect(source.spec.groups).toEqual(groups);
  const text =
    header + stringify({ groups: source.spec.groups }, { lineWidth: 0, singleQuote: true });
  const prettier = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/prettier/bin/prettier.cjs'), '--stdin-filepath', RULES_FILE],
    { cwd: ROOT, input: text, encoding: 'utf8' },
  );
  if (prettier.status !== 0) throw new Error(`prettier failed: ${prettier.stderr}`);
  writeFileSync(RULES_FILE, prettier.stdout);
}
