// Starts GraphiQL on Vigie's endpoints: queries and mutations over HTTP, subscriptions
// over graphql-ws on the same host. Send `{"Authorization": "Bearer <accessToken>"}` in
// the headers tab (the token is not kept between visits).
(function () {
  var socket = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql/ws';
  var fetcher = GraphiQL.createFetcher({ url: location.origin + '/graphql', subscriptionUrl: socket });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    })
  );
})();
