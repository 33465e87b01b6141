/**
 * The Kubernetes examples must be valid YAML with the shape `kubectl apply --dry-run=client` checks
 * first (apiVersion, kind, metadata.name) and must agree with each other and with the files beside
 * them: ports, names, secrets, images and the Dockerfiles that build them, environment variables
 * that something reads, probes that erldist's CLI accepts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseNodeName } from '../src/index.js';

const dir = new URL('../examples/kubernetes/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
// biome-ignore lint/suspicious/noExplicitAny: a manifest's spec is whatever YAML holds; the assertions check its shape
type Spec = any;
type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec?: Spec;
  stringData?: Record<string, string>;
};
const docs: { file: string; doc: Doc }[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(new URL(file, dir), 'utf8')).map((d) => {
    expect(d.errors, file).toEqual([]);
    return { file, doc: d.toJS() as Doc };
  }),
);

const read = (file: string) => readFileSync(new URL(file, dir), 'utf8');
const version: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
const workload = (name: string) =>
  docs.find((d) => d.doc.metadata.name === name && (d.doc.kind === 'Deployment' || d.doc.kind === 'Job'))!.doc;
const container = (name: string) => workload(name).spec.template.spec.containers[0];
type Env = { name: string; value?: string; valueFrom?: unknown };

/** Every .ts file under src/, concatenated: what the library and the CLI read. */
function sources(path: URL): string {
  return readdirSync(path, { withFileTypes: true })
    .map((e) => {
      if (e.isDirectory()) return sources(new URL(`${e.name}/`, path));
      return e.name.endsWith('.ts') ? readFileSync(new URL(e.name, path), 'utf8') : '';
    })
    .join('\n');
}
const library = sources(new URL('../src/', import.meta.url));

/** The image a Dockerfile's build command (in its comment) tags, and its erldist version. */
function dockerfile(file: string): { text: string; tag: string; erldist: string } {
  const text = read(file);
  const tag = /docker build -t (\S+)/.exec(text)?.[1];
  const erldist = /^ARG ERLDIST_VERSION=(\S+)$/m.exec(text)?.[1];
  expect(tag, file).toBeDefined();
  expect(erldist, file).toBeDefined();
  return { text, tag: tag!, erldist: erldist! };
}

const KINDS: Record<string, string> = { Service: 'v1', Secret: 'v1', Deployment: 'apps/v1', Job: 'batch/v1' };

describe('examples/kubernetes', () => {
  it('has the four manifests, the two Dockerfiles and the service they run', () => {
    expect(files.sort()).toEqual(['cookie-secret.yaml', 'elixir-app.yaml', 'node-service.yaml', 'ping-job.yaml']);
    expect(
      readdirSync(dir)
        .filter((f) => !f.endsWith('.yaml'))
        .sort(),
    ).toEqual(['Dockerfile', 'pricing-api.Dockerfile', 'pricing-api.ts']);
  });

  it('every document has apiVersion, kind and a DNS-1123 name', () => {
    for (const { file, doc } of docs) {
      expect(KINDS[doc.kind], `${file}: ${doc.kind}`).toBe(doc.apiVersion);
      expect(doc.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  it('workloads: selectors match template labels; containers have images; env values are strings', () => {
    for (const { file, doc } of docs.filter((d) => d.doc.kind === 'Deployment' || d.doc.kind === 'Job')) {
      const template = doc.spec.template;
      if (doc.kind === 'Deployment')
        expect(template.metadata.labels, file).toMatchObject(doc.spec.selector.matchLabels);
      for (const c of template.spec.containers) {
        expect(typeof c.image, file).toBe('string');
        for (const e of c.env ?? []) {
          expect(e.value === undefined ? typeof e.valueFrom : typeof e.value, `${file}: ${e.name}`).toMatch(
            /string|object/,
          );
          const ref = e.valueFrom?.secretKeyRef;
          if (ref) expect(ref.name).toBe('erlang-cookie');
        }
      }
    }
  });

  it('the Service exposes EPMD and the pinned port the app listens on', () => {
    const service = docs.find((d) => d.doc.kind === 'Service')!.doc;
    expect(service.spec.ports.map((p: { port: number }) => p.port).sort()).toEqual([4369, 43691]);
    const app = docs.find((d) => d.doc.kind === 'Deployment' && d.doc.metadata.name === 'app')!.doc;
    const env = app.spec.template.spec.containers[0].env;
    expect(env.find((e: { name: string }) => e.name === 'ERL_AFLAGS').value).toContain(
      'inet_dist_listen_min 43691 inet_dist_listen_max 43691',
    );
  });

  it('the node names erldist is given parse, with the pinned port', () => {
    const target = container('pricing-api').env.find((e: Env) => e.name === 'TARGET_NODE').value;
    expect(parseNodeName(target)).toMatchObject({ long: true, port: 43691, alive: 'app' });
    const args: string[] = container('erldist-ping').command;
    expect(args.slice(0, 2)).toEqual(['erldist', 'ping']);
    expect(parseNodeName(args[2])).toMatchObject({ alive: 'app', port: 43691 });
  });

  it('the Job runs an image with erldist installed (built by the Dockerfile), nothing from the registry', () => {
    for (const file of files) expect(read(file), file).not.toMatch(/\bnpx\b/);
    const image = dockerfile('Dockerfile');
    expect(image.erldist).toBe(version);
    expect(image.tag).toBe(`ghcr.io/example/erldist:${version}`);
    expect(image.text).toMatch(/^RUN npm install --global "erldist@\$\{ERLDIST_VERSION\}"/m);
    expect(container('erldist-ping').image).toBe(image.tag);
  });

  it('the Node.js service runs pricing-api.ts from the image pricing-api.Dockerfile builds', () => {
    const image = dockerfile('pricing-api.Dockerfile');
    expect(image.erldist).toBe(version);
    const api = container('pricing-api');
    expect(api.image).toBe(image.tag);
    expect(api.command).toEqual(['node', 'pricing-api.ts']);
    expect(image.text).toMatch(/^COPY pricing-api\.ts \.$/m);
    expect(image.text).toMatch(/^CMD \["node", "pricing-api\.ts"\]$/m);
    expect(image.text).toMatch(/npm install "erldist@\$\{ERLDIST_VERSION\}"/);
  });

  it('every environment variable is read by something: the program, erldist, the release, or another variable', () => {
    const service = read('pricing-api.ts');
    // What an Elixir release and erl read (bin/<release>, erlexec).
    const release = new Set(['RELEASE_COOKIE', 'RELEASE_DISTRIBUTION', 'RELEASE_NODE', 'ERL_AFLAGS']);
    const readers: Record<string, (name: string) => boolean> = {
      'pricing-api': (name) => service.includes(`process.env.${name}`) || new RegExp(`'${name}'`).test(library),
      'erldist-ping': (name) => new RegExp(`env\\.${name}\\b|'${name}'`).test(library),
      app: (name) => release.has(name),
    };
    for (const [name, reads] of Object.entries(readers)) {
      const env: Env[] = container(name).env;
      const referenced = (n: string) => env.some((e) => e.value?.includes(`$(${n})`));
      for (const e of env)
        expect(reads(e.name) || referenced(e.name), `${name}: ${e.name} is read by nothing`).toBe(true);
    }
    // The erldist probes in the Elixir container read the cookie the release reads.
    expect(library).toContain("'RELEASE_COOKIE'");
  });

  it('probes: erldist exec probes name the app node at the pinned port and time out before the kubelet does', () => {
    const app = container('app');
    // app@$(POD_IP): Kubernetes fills in the IP.
    const releaseNode = app.env.find((e: Env) => e.name === 'RELEASE_NODE').value.replace('$(POD_IP)', '10.0.0.7');
    for (const probe of [app.livenessProbe, app.readinessProbe]) {
      const [command, subcommand, node, ...rest] = probe.exec.command as string[];
      expect(command).toBe('erldist');
      expect(['ping', 'eval']).toContain(subcommand);
      // The name part must be the node's own (the CLI checks it); the host part may differ.
      expect(parseNodeName(node)).toMatchObject({ alive: parseNodeName(releaseNode).alive, port: 43691 });
      const timeout = Number(rest[rest.indexOf('--timeout') + 1]);
      expect(timeout).toBeGreaterThan(0);
      expect(probe.timeoutSeconds * 1000).toBeGreaterThan(timeout);
    }
    const api = container('pricing-api');
    const ports = api.ports.map((p: { name: string }) => p.name);
    expect(api.readinessProbe.httpGet.path).toBe('/ready');
    expect(api.livenessProbe.httpGet.path).toBe('/healthz');
    for (const probe of [api.readinessProbe, api.livenessProbe]) expect(ports).toContain(probe.httpGet.port);
    const service = read('pricing-api.ts');
    for (const path of ['/ready', '/healthz']) expect(service).toContain(`'${path}'`);
  });
});
