import { it } from "vitest";
import { createTestApi } from "../harness.ts";
it("dbg", async () => {
  const api = await createTestApi();
  const invited = await api.call("POST", "/v1/staff/invitations", { body: { email: "a@example.com" } });
  console.log(invited.status, invited.body);
  const token = /#token=(.+)$/.exec(invited.body.inviteUrl as string)?.[1];
  const acc = await api.app.inject({ method: "POST", url: "/v1/staff/invitations/accept", payload: { token, password: "kopi susu gula aren 1987!" } });
  console.log(acc.statusCode, acc.body);
  const s = await api.app.inject({ method: "POST", url: "/v1/staff/sign-in", payload: { email: "a@example.com", password: "kopi susu gula aren 1987!" } });
  console.log(s.statusCode, s.body, s.headers["set-cookie"]);
  await api.close();
});
