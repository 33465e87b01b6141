/**
 * The Kubernetes examples must be valid YAML with the shape `kubectl apply --dry-run=client` checks
 * first (apiVersion, kind, metadata.name) and must agree with each other: ports, names, secrets.
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

const KINDS: Record<string, string> = { Service: 'v1', Secret: 'v1', Deployment: 'apps/v1', Job: 'batch/v1' };

describe('examples/kubernetes', () => {
  it('has the four manifests', () => {
    expect(files.sort()).toEqual(['cookie-secret.yaml', 'elixir-app.yaml', 'node-service.yaml', 'ping-job.yaml']);
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
    const api = docs.find((d) => d.doc.metadata.name === 'pricing-api')!.doc;
    const target = api.spec.template.spec.containers[0].env.find(
      (e: { name: string }) => e.name === 'TARGET_NODE',
    ).value;
    expect(parseNodeName(target)).toMatchObject({ long: true, port: 43691, alive: 'app' });
    const job = docs.find((d) => d.doc.kind === 'Job')!.doc;
    const args: string[] = job.spec.template.spec.containers[0].command;
    expect(args.slice(0, 4)).toEqual(['npx', '--yes', 'erldist', 'ping']);
    expect(parseNodeName(args[4]).port).toBe(43691);
  });
});
