import { resolveWebEnv } from "../../../../env";
import { sessionRoutes } from "../routes";

export const dynamic = "force-dynamic";

export async function POST(request: Request): Promise<Response> {
  return sessionRoutes.token(await resolveWebEnv(), request);
}
