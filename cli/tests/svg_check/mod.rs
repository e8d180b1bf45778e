//! A small, strict XML reader for the tests of the SVG pictures (shared by the unit
//! tests of cli/src/svg, cli/tests/report_cli.rs and tests/cli_demo.rs through
//! `#[path]`): it rejects what an XML parser rejects in the subset the pictures use
//! (unbalanced or crossed tags, unquoted or repeated attributes, a raw `<` or `&` in
//! text or values, text after the root) and gives back the tree, so tests can check
//! structure instead of searching strings.
#![allow(dead_code)]

#[derive(Debug, Clone)]
pub enum Node {
    Element(Element),
    Text(String),
}

#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The text of this element and all its descendants, unescaped, each text node
    /// on a line of its own.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.children {
            match c {
                Node::Text(t) if !t.trim().is_empty() => {
                    out.push_str(t.trim());
                    out.push('\n');
                }
                Node::Element(e) => out.push_str(&e.text()),
                _ => {}
            }
        }
        out
    }

    /// Every descendant element (depth first, document order) for which `pred` holds.
    pub fn find_all<'a>(&'a self, pred: &dyn Fn(&Element) -> bool) -> Vec<&'a Element> {
        let mut out = Vec::new();
        for c in &self.children {
            if let Node::Element(e) = c {
                if pred(e) {
                    out.push(e);
                }
                out.extend(e.find_all(pred));
            }
        }
        out
    }

    /// Descendants `<NAME class="CLASS">`.
    pub fn with_class<'a>(&'a self, name: &str, class: &str) -> Vec<&'a Element> {
        self.find_all(&|e| e.name == name && e.attr("class") == Some(class))
    }
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let j = after.find(';').ok_or_else(|| format!("a bare '&' in {s:?}"))?;
        let c = match &after[..j] {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e if e.starts_with("#x") => {
                u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32).ok_or("bad &#x;")?
            }
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32).ok_or("bad &#;")?,
            e => return Err(format!("unknown entity &{e}; in {s:?}")),
        };
        out.push(c);
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

struct Reader<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.at..]
    }

    fn skip_ws(&mut self) {
        let r = self.rest();
        self.at += r.len() - r.trim_start().len();
    }

    fn element(&mut self) -> Result<Element, String> {
        let r = self.rest();
        if !r.starts_with('<') {
            return Err(format!("expected a tag at byte {}", self.at));
        }
        let end = r.find('>').ok_or("unterminated tag")?;
        let inner = &r[1..end];
        let self_closing = inner.ends_with('/');
        let inner = inner.trim_end_matches('/');
        let name_end = inner.find(char::is_whitespace).unwrap_or(inner.len());
        let name = &inner[..name_end];
        if !is_name(name) {
            return Err(format!("bad tag name {name:?} at byte {}", self.at));
        }
        let mut attrs: Vec<(String, String)> = Vec::new();
        let mut a = inner[name_end..].trim_start();
        while !a.is_empty() {
            let eq = a.find('=').ok_or_else(|| format!("attribute without value in <{inner}>"))?;
            let key = a[..eq].trim();
            if !is_name(key) {
                return Err(format!("bad attribute name {key:?} in <{name}>"));
            }
            let v = a[eq + 1..].trim_start();
            let v = v.strip_prefix('"').ok_or_else(|| format!("unquoted value of {key} in <{name}>"))?;
            let close = v.find('"').ok_or_else(|| format!("unterminated value of {key} in <{name}>"))?;
            let raw = &v[..close];
            if raw.contains('<') {
                return Err(format!("a raw '<' in the value of {key} in <{name}>"));
            }
            if attrs.iter().any(|(k, _)| k == key) {
                return Err(format!("attribute {key} twice in <{name}>"));
            }
            attrs.push((key.to_string(), unescape(raw)?));
            let after = &v[close + 1..];
            if !after.is_empty() && !after.starts_with(char::is_whitespace) {
                return Err(format!("no space after the value of {key} in <{name}>"));
            }
            a = after.trim_start();
        }
        self.at += end + 1;
        let mut el = Element { name: name.to_string(), attrs, children: Vec::new() };
        if self_closing {
            return Ok(el);
        }
        loop {
            let r = self.rest();
            let lt = r.find('<').ok_or_else(|| format!("<{name}> is never closed"))?;
            if lt > 0 {
                el.children.push(Node::Text(unescape(&r[..lt])?));
                self.at += lt;
            }
            let r = self.rest();
            if let Some(close) = r.strip_prefix("</") {
                let gt = close.find('>').ok_or("unterminated closing tag")?;
                if close[..gt].trim() != name {
                    return Err(format!("</{}> closes <{name}>", &close[..gt]));
                }
                self.at += 2 + gt + 1;
                return Ok(el);
            }
            el.children.push(Node::Element(self.element()?));
        }
    }
}

/// The root element of `text`, or why it is not well-formed.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut r = Reader { s: text, at: 0 };
    r.skip_ws();
    if r.rest().starts_with("<?xml") {
        let end = r.rest().find("?>").ok_or("unterminated <?xml")?;
        r.at += end + 2;
        r.skip_ws();
    }
    let root = r.element()?;
    r.skip_ws();
    if !r.rest().is_empty() {
        return Err(format!("text after the root element at byte {}", r.at));
    }
    Ok(root)
}
