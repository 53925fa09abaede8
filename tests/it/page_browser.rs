//! The token page in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, `fantoccini`), end to end against a gateway in front of the Jira stand-in.
//!
//! Steps: sign in, create a token, read the secret, use it through the gateway (allowed),
//! revoke it after the confirmation, use it again (401), sign out; a read-only user gets a
//! read-only token only; a forged cross-site form post is refused; the page inside another
//! origin's `<iframe>` does not render; a user signed in to the product (its session cookie) is
//! recognised. Screenshots of the main states go to `target/page-screenshots/`, and to `docs/`
//! with `AUTHGATE_SCREENSHOTS=docs` (how the README's images are made).
//!
//! Needs Debian's `chromium` and `chromium-driver`, which `./scripts/test.sh` installs; without
//! them this test fails (it is never skipped).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::page::page_setup;
use crate::support::gateway::TestGateway;

/// chromedriver on a free loopback port, ended when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/lib/chromium")]) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

async fn start_driver() -> Driver {
    let driver = find_binary(&["chromedriver"]).unwrap_or_else(|| {
        panic!("chromedriver not found: run ./scripts/test.sh, which installs Debian's chromium and chromium-driver")
    });
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().unwrap().port()
    };
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let d = Driver {
        child,
        port,
        _profile: tempfile::tempdir().expect("a temp dir"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on 127.0.0.1:{port}");
}

async fn browser(driver: &Driver) -> Client {
    // The real binary: Debian's /usr/bin/chromium is a shell wrapper.
    let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| {
            panic!("chromium not found: run ./scripts/test.sh, which installs Debian's chromium and chromium-driver")
        });
    let profile = driver._profile.path().display().to_string();
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1200,900",
                format!("--user-data-dir={profile}"),
            ],
        },
    });
    let caps = caps.as_object().unwrap().clone();
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

/// A second origin (another loopback port) serving `pages`: (path, html).
async fn other_origin(pages: Vec<(&'static str, String)>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let pages = pages.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split(' ').nth(1).unwrap_or("/").to_string();
                let body = pages
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/page-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
    if std::env::var("AUTHGATE_SCREENSHOTS").as_deref() == Ok("docs") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::write(docs.join(format!("{name}.png")), &png).unwrap();
    }
}

async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => panic!("no {css}: {e}\n{}", c.source().await.unwrap_or_default()),
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    wait_for(c, css).await.text().await.unwrap()
}

async fn fill(c: &Client, css: &str, value: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn sign_in(c: &Client, gw: &TestGateway, user: &str) {
    c.goto(&gw.url("/_authgate/")).await.unwrap();
    fill(c, "#username", user).await;
    fill(c, "#password", &format!("{user}-pw")).await;
    click(c, "#sign-in button[type=submit]").await;
    let who = text_of(c, ".who").await;
    assert_eq!(who, format!("Signed in as {user}"));
}

async fn create(c: &Client, name: &str) -> String {
    fill(c, "#name", name).await;
    click(c, "#create button[type=submit]").await;
    let field = wait_for(c, "#secret").await;
    field.prop("value").await.unwrap().expect("the secret")
}

async fn status_with(gw: &TestGateway, token: &str) -> u16 {
    gw.get("/rest/api/2/myself")
        .bearer(token)
        .send()
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_manages_tokens_in_headless_chromium() {
    let gw = page_setup().start().await;
    let driver = start_driver().await;
    let c = browser(&driver).await;

    // Sign in, create a token, read the secret once, use it.
    c.goto(&gw.url("/_authgate/")).await.unwrap();
    shot(&c, "page-sign-in").await;
    sign_in(&c, &gw, "alice").await;
    let secret = create(&c, "CI pipeline").await;
    assert!(secret.starts_with("gw_") && secret.len() == 49, "{secret}");
    assert!(
        !c.current_url().await.unwrap().as_str().contains("gw_"),
        "never in a URL"
    );
    // The copy button exists only with the script, which un-hides it.
    click(&c, "#copy").await;
    shot(&c, "page-created").await;
    assert_eq!(status_with(&gw, &secret).await, 200, "the new token works");

    // The list shows it, never the secret; revoke after the confirmation.
    c.goto(&gw.url("/_authgate/")).await.unwrap();
    assert!(
        !c.source().await.unwrap().contains(&secret),
        "shown once only"
    );
    assert!(text_of(&c, "#tokens tbody").await.contains("CI pipeline"));
    click(&c, "#tokens a.revoke").await;
    text_of(&c, "#confirm-title").await;
    shot(&c, "page-revoke").await;
    click(&c, "#confirm-revoke").await;
    assert!(text_of(&c, ".msg.info").await.contains("revoked"));
    // Revocation reaches the lookup cache of this replica at once.
    assert_eq!(
        status_with(&gw, &secret).await,
        401,
        "the revoked token is refused"
    );
    shot(&c, "page-list").await;

    // A forged cross-site form post (no CSRF token, another origin) is refused, and the page
    // inside another origin's frame does not render.
    let target = gw.url("/_authgate/create");
    let page = gw.url("/_authgate/");
    let evil = other_origin(vec![
        (
            "/forge",
            format!("<form method=post action=\"{target}\"><input name=name value=forged><button id=go>go</button></form>"),
        ),
        ("/frame", format!("<h1>evil</h1><iframe id=f src=\"{page}\"></iframe>")),
    ])
    .await;
    c.goto(&format!("{evil}/forge")).await.unwrap();
    click(&c, "#go").await;
    let refused = text_of(&c, ".msg.error").await;
    assert!(refused.contains("did not come from this page"), "{refused}");
    let listed = gw
        .get("/_authgate/tokens")
        .basic("alice", "alice-pw")
        .send()
        .await
        .json();
    assert!(!listed.to_string().contains("forged"), "{listed}");
    c.goto(&format!("{evil}/frame")).await.unwrap();
    text_of(&c, "h1").await;
    c.enter_frame(0).await.unwrap();
    let framed = c.source().await.unwrap_or_default();
    assert!(
        !framed.contains("API tokens"),
        "the framed page rendered: {framed}"
    );
    c.enter_parent_frame().await.unwrap();

    // Sign out.
    c.goto(&gw.url("/_authgate/")).await.unwrap();
    click(&c, ".signout button").await;
    assert!(text_of(&c, ".msg.info").await.contains("signed out"));
    c.find(Locator::Css("#sign-in"))
        .await
        .expect("the sign-in form again");

    // A read-only user gets read-only tokens only.
    sign_in(&c, &gw, "bob").await;
    let ro = c.find(Locator::Css("#read_only")).await.unwrap();
    assert_eq!(ro.attr("disabled").await.unwrap().as_deref(), Some("true"));
    assert!(ro.is_selected().await.unwrap());
    let bobs = create(&c, "reports").await;
    assert!(text_of(&c, "#tokens tbody").await.contains("Read-only"));
    assert_eq!(status_with(&gw, &bobs).await, 200, "reads are allowed");
    let write = gw
        .post("/rest/api/2/issue")
        .bearer(&bobs)
        .body("{}")
        .send()
        .await;
    assert_eq!(write.status, 403, "writes are not");
    click(&c, ".signout button").await;

    // Signed in to the product: recognised by its session cookie, no sign-in needed.
    // (The browser is on the signed-out page of the gateway's origin; the product's cookie is
    // set as the product would set it, for the whole origin.)
    c.execute(
        "document.cookie = 'JSESSIONID=alice-session; path=/'",
        vec![],
    )
    .await
    .unwrap();
    c.goto(&gw.url("/_authgate/")).await.unwrap();
    assert_eq!(text_of(&c, ".who").await, "Signed in as alice");

    // Readable at 360 px.
    c.set_window_size(360, 780).await.unwrap();
    c.goto(&gw.url("/_authgate/")).await.unwrap();
    let width: serde_json::Value = c
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap();
    assert!(
        width.as_u64().unwrap() <= 360,
        "no sideways scrolling at 360 px: {width}"
    );
    shot(&c, "page-narrow").await;

    c.close().await.unwrap();
}
