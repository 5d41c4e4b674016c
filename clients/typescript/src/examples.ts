// What a front-end does with the typed operations; compiled with the package, so these
// uses are checked against the schema too.
import {
  BrandsDocument,
  InboxDocument,
  InfluencersDocument,
  JudgeAlertDocument,
  LogInDocument,
  MeDocument,
  NodeDocument,
  VigieClient,
} from './index.js';

export async function mondayMorning(url: string, email: string, password: string) {
  let token: string | undefined;
  const client = new VigieClient({ url, accessToken: () => token, persisted: true });
  const login = await client.request(LogInDocument, { email, password });
  token = login.logIn.accessToken;
  const me = await client.request(MeDocument);
  const brands = await client.request(BrandsDocument, { first: 20 });
  const report: string[] = [`${me.me.user.name} (${me.me.role}) at ${me.me.agency.name}`];
  for (const { node: brand } of brands.brands.edges) {
    const leaders = await client.request(InfluencersDocument, { brandId: brand.id, first: 5 });
    for (const { node } of leaders.influencers.edges) {
      const reach = node.scoreBreakdown.reach.toFixed(1);
      report.push(`${brand.name}: @${node.author?.handle ?? '?'} ${node.score.toFixed(0)} (reach ${reach})`);
    }
    const inbox = await client.request(InboxDocument, { brandId: brand.id, first: 20 });
    const late = inbox.tickets.edges.filter(({ node }) => node.breached).length;
    report.push(`${brand.name}: ${late} tickets past their SLA`);
    const again = await client.request(NodeDocument, { id: brand.id });
    if (again.node?.__typename === 'Brand') report.push(`refetched ${again.node.name}`);
  }
  return report;
}

export async function dismiss(client: VigieClient, alertId: string) {
  const judged = await client.request(JudgeAlertDocument, { id: alertId, verdict: 'FALSE_ALARM', note: 'ordinary complaints' });
  return judged.judgeAlert.status;
}
