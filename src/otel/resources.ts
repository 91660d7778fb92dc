// What keeps the event loop alive, counted by type, as prom-client counts it.
export interface ResourceReading {
  /** process.getActiveResourcesInfo(), by type. */
  resources: Map<string, number>;
  resourcesTotal: number;
  /** process._getActiveHandles(), by constructor name (prom-client's source). */
  handles: Map<string, number>;
  handlesTotal: number;
  /** process._getActiveRequests(), by constructor name. */
  requests: Map<string, number>;
  requestsTotal: number;
}

type Internal = NodeJS.Process & { _getActiveHandles?: () => object[]; _getActiveRequests?: () => object[] };

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const name = key(item);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

const constructorName = (item: object): string => (item?.constructor?.name as string | undefined) ?? 'Unknown';

export function readActiveResources(): ResourceReading {
  const internal = process as Internal;
  const resources = typeof process.getActiveResourcesInfo === 'function' ? process.getActiveResourcesInfo() : [];
  // The underscored APIs are undocumented; where they are gone the handle
  // and request metrics are simply left out (NaN).
  const handles = typeof internal._getActiveHandles === 'function' ? internal._getActiveHandles() : undefined;
  const requests = typeof internal._getActiveRequests === 'function' ? internal._getActiveRequests() : undefined;
  return {
    resources: countBy(resources, (type) => type),
    resourcesTotal: resources.length,
    handles: handles ? countBy(handles, constructorName) : new Map(),
    handlesTotal: handles ? handles.length : NaN,
    requests: requests ? countBy(requests, constructorName) : new Map(),
    requestsTotal: requests ? requests.length : NaN,
  };
}
