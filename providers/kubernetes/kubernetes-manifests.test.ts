import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';

import { makeSpecification } from '../../test/support/jobs.js';
import type { CreateJob } from '../sdk/index.js';
import { kubernetesUtilization, nodeRoom, productCapacity, unfitProducts } from './kubernetes-capacity.js';
import { annotationPatch, checkImage, deadlineNeedsPatch, jobManifest, kubernetesJobName, labelValue } from './kubernetes-manifests.js';
import { buildProducts } from './kubernetes-products.js';

const [small, gpu] = buildProducts([
  { id: 'small', cpu: 0.5, memoryInGigs: 1.5, pricePerUnit: 10 },
  {
    id: 'gpu',
    cpu: 4,
    memoryInGigs: 16,
    gpu: 1,
    pricePerUnit: 100,
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  },
]);

function createJob(overrides: Partial<CreateJob['specification']> = {}): CreateJob {
  const specification = makeSpecification({
    product: { id: 'small', category: 'small', provider: 'kube' },
    command: ['sh', '-c', 'echo hi'],
    image: 'registry.example.com:5000/team/app:1.2',
    env: { B: '2', A: '1' },
    workingDir: '/work',
    replicas: 3,
    timeAllocationMs: 90_500,
    ...overrides,
  });
  return {
    id: '0190a0b0-1111-7000-8000-000000000001',
    owner: { createdBy: 'alice', project: 'p1' },
    specification,
    product: small!.product,
    createdAt: 0,
  };
}

const options = { providerId: 'kube', namespace: 'ns', defaultImage: 'busybox:1.36', ttlSecondsAfterFinished: 600 };

describe('a Switchyard job as a Kubernetes Job', () => {
  it('runs one pod per rank in Indexed mode, with the product’s requests as limits and the job’s command, env and directory', () => {
    const manifest = jobManifest(createJob(), small!, options);
    expect(manifest.metadata).toMatchObject({
      name: 'sy-0190a0b0-1111-7000-8000-000000000001',
      namespace: 'ns',
      labels: { 'switchyard.io/provider': 'kube', 'switchyard.io/job': '0190a0b0-1111-7000-8000-000000000001' },
      annotations: {
        'switchyard.io/owner': 'alice',
        'switchyard.io/project': 'p1',
        'switchyard.io/product': 'small',
        'switchyard.io/time-allocation-ms': '90500',
      },
    });
    expect(manifest.spec).toMatchObject({
      completionMode: 'Indexed',
      completions: 3,
      parallelism: 3,
      backoffLimit: 0,
      activeDeadlineSeconds: 92,
      ttlSecondsAfterFinished: 600,
    });
    const pod = manifest.spec!.template.spec!;
    expect(pod).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false });
    const [container] = pod.containers;
    expect(container).toMatchObject({
      image: 'registry.example.com:5000/team/app:1.2',
      command: ['sh', '-c', 'echo hi'],
      workingDir: '/work',
      resources: { requests: { cpu: '500m', memory: '1536Mi' }, limits: { cpu: '500m', memory: '1536Mi' } },
    });
    expect(container!.env!.map((e) => e.name)).toEqual(['A', 'B', 'SWITCHYARD_JOB_ID', 'SWITCHYARD_REPLICAS', 'SWITCHYARD_RANK']);
  });

  it('moves a deadline only when it would end the job early, or late by more than its second of slack', () => {
    // 90.5 s of allocation: 92 s from the Job's start (above). Pods that start within the second need no patch.
    expect(deadlineNeedsPatch(92, 91)).toBe(false);
    expect(deadlineNeedsPatch(92, 92)).toBe(false);
    expect(deadlineNeedsPatch(92, 93)).toBe(true);
    expect(deadlineNeedsPatch(95, 93)).toBe(true);
    expect(deadlineNeedsPatch(undefined, 93)).toBe(true);
  });

  it('asks for a GPU as an extended resource, tolerates the product’s taints, retries ranks only when asked to', () => {
    const manifest = jobManifest(createJob({ restartOnExit: true, image: null, timeAllocationMs: null }), gpu!, options);
    const pod = manifest.spec!.template.spec!;
    expect(pod.containers[0]!.resources!.limits).toEqual({ cpu: '4', memory: '16Gi', 'nvidia.com/gpu': '1' });
    expect(pod.containers[0]!.image).toBe('busybox:1.36');
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(manifest.spec).toMatchObject({ backoffLimit: 6, activeDeadlineSeconds: undefined });
  });

  it('refuses image references no runtime can pull, and relative working directories', () => {
    for (const bad of ['UPPER/case', 'has space', 'trailing:', 'a@sha256:short', '', 'x'.repeat(300)])
      expect(() => checkImage(bad)).toThrow(/not a valid container image reference/);
    for (const good of ['busybox', 'busybox:1.36', 'ghcr.io/org/app@sha256:' + 'a'.repeat(64), 'localhost:5000/a/b_c-d.e:v1'])
      expect(() => checkImage(good)).not.toThrow();
    expect(() => jobManifest(createJob({ workingDir: 'rel' }), small!, options)).toThrow('workingDir must be an absolute path');
  });

  it('names and labels anything Kubernetes would refuse by a digest', () => {
    expect(kubernetesJobName('Upper_Case')).toMatch(/^sy-[0-9a-f]{40}$/);
    expect(labelValue('x'.repeat(64))).toMatch(/^h-[0-9a-f]{40}$/);
    expect(labelValue('kube-1')).toBe('kube-1');
    expect(annotationPatch('switchyard.io/ran-ms', '5')).toEqual({ op: 'add', path: '/metadata/annotations/switchyard.io~1ran-ms', value: '5' });
  });
});

function node(name: string, allocatable: Record<string, string>, extra: Partial<V1Node['spec']> = {}, ready = true): V1Node {
  return {
    metadata: { name, labels: { 'node.kubernetes.io/instance-type': name } },
    spec: extra,
    status: { allocatable, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}
const bound = (nodeName: string, cpu: string, memory: string, phase = 'Running'): V1Pod => ({
  spec: { nodeName, containers: [{ name: 'c', resources: { requests: { cpu, memory } } }] },
  status: { phase },
});

describe('capacity from nodes and the pods bound to them', () => {
  const nodes = [
    node('m5-large', { cpu: '1930m', memory: '7134Mi', pods: '29' }),
    node(
      'p3',
      { cpu: '7910m', memory: '58760Mi', 'nvidia.com/gpu': '1', pods: '58' },
      { taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] },
    ),
    node('broken', { cpu: '64', memory: '256Gi', pods: '110' }, {}, false),
  ];

  it('counts the pods of a product that still fit, node by node, on nodes it may use', () => {
    const room = nodeRoom(nodes, [bound('m5-large', '1', '1Gi'), bound('m5-large', '4', '4Gi', 'Succeeded')]);
    // 0.93 CPU left on the m5: one small pod; the tainted GPU node is not the small product's.
    expect(productCapacity(small!, room)).toBe(1);
    expect(productCapacity(gpu!, room)).toBe(1);
    expect(productCapacity(gpu!, nodeRoom(nodes, [bound('p3', '1', '1Gi')]))).toBe(1);
    expect(
      productCapacity(
        gpu!,
        nodeRoom(nodes, [
          { spec: { nodeName: 'p3', containers: [{ name: 'c', resources: { requests: { 'nvidia.com/gpu': '1' } } }] }, status: { phase: 'Running' } },
        ]),
      ),
    ).toBe(0);
  });

  it('tells a product no node could hold even empty (nothing a wait cures) from one the cluster is too full for now', () => {
    const [wide] = buildProducts([{ id: 'wide', cpu: 16, memoryInGigs: 1, pricePerUnit: 10 }]);
    const full = nodeRoom(nodes, [bound('m5-large', '1.9', '1Gi'), bound('p3', '7', '1Gi')]);
    expect(productCapacity(small!, full)).toBe(0);
    // The broken node, 64 CPUs, is not Ready now: it may be later, so the wide product is not refused…
    expect(unfitProducts([small!, gpu!, wide!], full)).toEqual(new Set());
    // …unless it is gone; but a node's own not-ready taint, which comes off by itself, refuses nothing.
    const fresh = node(
      'fresh',
      { cpu: '32', memory: '64Gi', pods: '110' },
      { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] },
      false,
    );
    expect(unfitProducts([wide!], nodeRoom(nodes.slice(0, 2), []))).toEqual(new Set(['wide']));
    expect(unfitProducts([wide!], nodeRoom([...nodes.slice(0, 2), fresh], []))).toEqual(new Set());
  });

  it('sums usable nodes into the provider’s utilization', () => {
    const utilization = kubernetesUtilization(
      [small!, gpu!],
      nodeRoom(nodes, [bound('m5-large', '1', '1Gi')]),
      { running: 1, pending: 0 },
      ['nvidia.com/gpu'],
      5,
    );
    expect(utilization.capacity).toEqual({ cpu: 9.84, memoryInGigs: 64.35, gpu: 1 });
    expect(utilization.usedCapacity).toEqual({ cpu: 1, memoryInGigs: 1, gpu: 0 });
    expect(utilization.capacityByProduct).toEqual({ small: 1, gpu: 1 });
  });
});
