/**
 * Liveness for the container's HEALTHCHECK and load balancers: answers as long as this server runs. It does not
 * call the inference node (a slow node must not get healthy web servers restarted); readiness lives on the node.
 */
export const dynamic = "force-dynamic";

export function GET(): Response {
  return Response.json({ ok: true }, { headers: { "Cache-Control": "no-store" } });
}
