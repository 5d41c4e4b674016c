//! GraphiQL, served by the api itself: the page, its code (fetched from the npm
//! registry when the binary was built, see `build.rs`) and a start-up script, under a
//! content-security policy that lets the page load nothing else. A binary built without
//! npm serves async-graphql's page instead, which loads its code from a CDN.

use actix_web::HttpResponse;
use actix_web::http::header;
use async_graphql::http::GraphiQLSource;

/// Whether this binary carries GraphiQL's code (built with npm).
pub fn offline() -> bool {
    cfg!(graphiql_assets)
}

/// The policy of the offline page: its own scripts and styles, and requests to its own
/// origin (HTTP and WebSocket). Images and fonts may also be inlined by the stylesheet.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[cfg(graphiql_assets)]
macro_rules! bundled {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/graphiql/", $name)).as_slice()
    };
}

/// `(name, content type, bytes)` of the files served under `/graphiql/`.
#[cfg(graphiql_assets)]
const ASSETS: [(&str, &str, &[u8]); 6] = [
    ("graphiql.min.js", "text/javascript; charset=utf-8", bundled!("graphiql.min.js")),
    ("graphiql.min.css", "text/css; charset=utf-8", bundled!("graphiql.min.css")),
    ("react.production.min.js", "text/javascript; charset=utf-8", bundled!("react.production.min.js")),
    ("react-dom.production.min.js", "text/javascript; charset=utf-8", bundled!("react-dom.production.min.js")),
    ("init.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql-init.js")),
    ("page.css", "text/css; charset=utf-8", include_bytes!("../assets/graphiql-page.css")),
];

#[cfg(not(graphiql_assets))]
const ASSETS: [(&str, &str, &[u8]); 0] = [];

/// The GraphiQL page.
pub fn page() -> HttpResponse {
    if offline() {
        return HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(include_str!("../assets/graphiql.html"));
    }
    let page = GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql/ws")
        .title("Vigie GraphiQL")
        .finish()
        .replacen(
            "<head>",
            "<head>\n<!-- This build of Vigie loads GraphiQL from a CDN: build it where npm reaches the npm registry for the offline page. -->",
            1,
        );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page)
}

/// One of the page's files, if there is one by that name. Only a server with the demo
/// opens the editor on the tour's first step, which holds the demo's login.
pub fn asset(name: &str, demo: bool) -> Option<HttpResponse> {
    let (_, content_type, bytes) = ASSETS.iter().find(|(served, _, _)| *served == name)?;
    let body = if name == "init.js" && !demo { without_tour(bytes) } else { bytes.to_vec() };
    Some(
        HttpResponse::Ok()
            .content_type(*content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(body),
    )
}

/// `init.js` with its tour query (``var tour = `…`;``) emptied.
fn without_tour(script: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    let start = text.find("var tour = `");
    let end = start.and_then(|start| text[start..].find("`;").map(|end| start + end + 2));
    match (start, end) {
        (Some(start), Some(end)) => format!("{}var tour = undefined;{}", &text[..start], &text[end..]).into_bytes(),
        _ => script.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tour_stays_out_of_servers_without_the_demo() {
        let script = include_bytes!("../assets/graphiql-init.js");
        let plain = String::from_utf8(super::without_tour(script)).unwrap();
        assert!(plain.contains("var tour = undefined;") && plain.contains("defaultQuery: tour"));
        assert!(!plain.contains("vigie-demo-password"));
        assert!(String::from_utf8_lossy(script).contains("vigie-demo-password"));
    }
}
