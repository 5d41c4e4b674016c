// Starts GraphiQL on Vigie's endpoints: queries and mutations over HTTP, subscriptions
// over graphql-ws on the same host. Send `{"Authorization": "Bearer <accessToken>"}` in
// the headers tab (the token is not kept between visits). The editor opens on the
// first step of the guided tour (docs/tour.md), which a test keeps equal.
(function () {
  var tour = `# Welcome to Vigie. This is step 1 of the tour (docs/tour.md).
# 1. Run this mutation (the ▶ button) to log in as the demo agency's owner.
# 2. Copy accessToken into the Headers tab below:
#    {"Authorization": "Bearer <accessToken>"}
# 3. Go on with step 2 of the tour. The Docs button (top left) lists every field.

mutation {
  logIn(input: { email: "demo@vigie.local", password: "vigie-demo-password" }) {
    accessToken
  }
}
`;
  var socket = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
  var fetcher = GraphiQL.createFetcher({ url: location.origin + '/graphql', subscriptionUrl: socket });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultQuery: tour,
    })
  );
})();
