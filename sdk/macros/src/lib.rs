//! Procedural macros of `wasmod-sdk`. Use them through the sdk (`#[wasmod_sdk::function]`);
//! the expansion refers to `::wasmod_sdk`.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{format_ident, quote};
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type, parse_macro_input};

/// Exports a Rust function as a wasmod module function (ABI v1). See the
/// `wasmod_sdk::function` documentation.
#[proc_macro_attribute]
pub fn function(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    match expand(attr.into(), func) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// How bytes map to a Rust type at the boundary.
enum Shape {
    /// Nothing (no parameter / `()` output).
    Unit,
    /// `Vec<u8>`: the bytes themselves.
    Bytes,
    /// `&[u8]`: the bytes, borrowed (inputs only).
    BytesRef,
    /// `Json<T>`: JSON text.
    Json,
    /// Anything else: postcard.
    Encoded,
}

fn is_u8(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("u8"))
}

fn shape_of(ty: &Type) -> Shape {
    match ty {
        Type::Tuple(t) if t.elems.is_empty() => Shape::Unit,
        Type::Reference(r) if r.mutability.is_none() => match &*r.elem {
            Type::Slice(s) if is_u8(&s.elem) => Shape::BytesRef,
            _ => Shape::Encoded,
        },
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().expect("a path has a segment");
            match &last.arguments {
                PathArguments::AngleBracketed(args) if last.ident == "Vec" && args.args.len() == 1 => {
                    match &args.args[0] {
                        GenericArgument::Type(t) if is_u8(t) => Shape::Bytes,
                        _ => Shape::Encoded,
                    }
                }
                PathArguments::AngleBracketed(args) if last.ident == "Json" && args.args.len() == 1 => Shape::Json,
                _ => Shape::Encoded,
            }
        }
        _ => Shape::Encoded,
    }
}

/// If `ty` is `Result<T, ..>` (by its last path segment), returns `T`.
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

fn expand(attr: TokenStream2, func: ItemFn) -> syn::Result<TokenStream2> {
    if !attr.is_empty() {
        return Err(syn::Error::new_spanned(attr, "#[wasmod_sdk::function] takes no arguments"));
    }
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.asyncness.is_some() || sig.variadic.is_some() {
        return Err(syn::Error::new_spanned(sig, "a wasmod function is a plain, non-generic, non-async fn"));
    }
    let name = &sig.ident;
    let export = name.to_string();
    if export.starts_with("wasmod_") || export.starts_with("__wasmod") || export == "memory" {
        return Err(syn::Error::new_spanned(name, "this name is reserved by the wasmod ABI"));
    }

    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    let call = match inputs.as_slice() {
        [] => quote! { #name() },
        [FnArg::Typed(arg)] => {
            let ty = &arg.ty;
            match shape_of(ty) {
                Shape::Unit => quote! { #name(()) },
                Shape::Bytes => quote! { #name(input) },
                Shape::BytesRef => quote! { #name(&input) },
                Shape::Json => quote! { #name(<#ty>::__decode(#export, &input)?) },
                Shape::Encoded => quote! {
                    #name(::wasmod_sdk::__private::decode_input::<#ty>(#export, &input)?)
                },
            }
        }
        [FnArg::Receiver(r), ..] => return Err(syn::Error::new_spanned(r, "a wasmod function cannot take `self`")),
        _ => return Err(syn::Error::new_spanned(&sig.inputs, "a wasmod function takes at most one parameter")),
    };

    let (ok_ty, returns_result): (Option<&Type>, bool) = match &sig.output {
        ReturnType::Default => (None, false),
        ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(ok) => (Some(ok), true),
            None => (Some(&**ty), false),
        },
    };
    let value = if returns_result {
        quote! { #call.map_err(::core::convert::Into::<::wasmod_sdk::Error>::into)? }
    } else {
        quote! { #call }
    };
    let encode = match ok_ty.map(shape_of) {
        None | Some(Shape::Unit) => quote! { let _: () = #value; ::core::result::Result::Ok(::std::vec::Vec::new()) },
        Some(Shape::Bytes) => quote! { ::core::result::Result::Ok(#value) },
        Some(Shape::BytesRef) => {
            return Err(syn::Error::new_spanned(&sig.output, "return `Vec<u8>`, not a borrowed slice"));
        }
        Some(Shape::Json) => quote! { (#value).__encode(#export) },
        Some(Shape::Encoded) => quote! { ::wasmod_sdk::__private::encode_output(#export, &#value) },
    };

    let entry = format_ident!("__wasmod_entry_{}", name);
    Ok(quote! {
        #func

        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[unsafe(export_name = #export)]
        pub extern "C" fn #entry(ptr: i32, len: i32) -> i64 {
            ::wasmod_sdk::__private::run_entry(ptr, len, |input: ::std::vec::Vec<u8>| {
                #[allow(unused_variables)]
                let input = input;
                #encode
            })
        }
    })
}

/// `import_group! { [pub] mod NAME = "group.name" @ VERSION { f1, f2, ... } }`: binds an
/// embedder-defined group. See `wasmod_sdk::import_group`.
#[proc_macro]
pub fn import_group(input: TokenStream) -> TokenStream {
    let spec = parse_macro_input!(input as GroupSpec);
    match expand_group(spec) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

struct GroupSpec {
    vis: syn::Visibility,
    module: syn::Ident,
    group: syn::LitStr,
    version: syn::LitInt,
    functions: Vec<syn::Ident>,
}

impl syn::parse::Parse for GroupSpec {
    fn parse(input: syn::parse::ParseStream<'_>) -> syn::Result<Self> {
        let vis = input.parse()?;
        input.parse::<syn::Token![mod]>()?;
        let module = input.parse()?;
        input.parse::<syn::Token![=]>()?;
        let group = input.parse()?;
        input.parse::<syn::Token![@]>()?;
        let version = input.parse()?;
        let body;
        syn::braced!(body in input);
        let functions =
            body.parse_terminated(<syn::Ident as syn::parse::Parse>::parse, syn::Token![,])?.into_iter().collect();
        Ok(GroupSpec { vis, module, group, version, functions })
    }
}

fn expand_group(spec: GroupSpec) -> syn::Result<TokenStream2> {
    let group = spec.group.value();
    if let Err(reason) = wasmod_host_abi::names::check_dotted_name(&group) {
        return Err(syn::Error::new_spanned(&spec.group, format!("group name {reason}")));
    }
    let version: u32 = spec.version.base10_parse()?;
    let import_module = wasmod_host_abi::groups::import_module(&group, version);
    let GroupSpec { vis, module, functions, .. } = spec;
    let mut items = Vec::new();
    for f in &functions {
        let name = f.to_string();
        let raw = format_ident!("__wasmod_raw_{}", f);
        let typed = format_ident!("{}_typed", f);
        let doc = format!("Calls `{group}.{name}` (import `{import_module}`.`{name}`) with raw bytes.");
        let typed_doc = format!("Calls `{group}.{name}` with a postcard-encoded input and output.");
        let native_msg = format!("`{group}.{name}` is a wasmod host function; it only exists inside a wasm guest");
        items.push(quote! {
            #[cfg(target_arch = "wasm32")]
            #[link(wasm_import_module = #import_module)]
            unsafe extern "C" {
                #[link_name = #name]
                fn #raw(ptr: i32, len: i32) -> i64;
            }
            #[cfg(not(target_arch = "wasm32"))]
            unsafe fn #raw(_ptr: i32, _len: i32) -> i64 {
                panic!(#native_msg)
            }
            #[doc = #doc]
            pub fn #f(input: &[u8]) -> ::wasmod_sdk::Result<::std::vec::Vec<u8>> {
                // SAFETY: the host function reads `input` through the pointer pair.
                ::wasmod_sdk::__private::bytes_call(#group, #name, input, |p, l| unsafe { #raw(p, l) })
            }
            #[doc = #typed_doc]
            pub fn #typed<I, O>(input: &I) -> ::wasmod_sdk::Result<O>
            where
                I: ::wasmod_sdk::__private::serde::Serialize + ?Sized,
                O: ::wasmod_sdk::__private::serde::de::DeserializeOwned,
            {
                let bytes = ::wasmod_sdk::__private::encode_output(#name, input)?;
                let out = #f(&bytes)?;
                ::wasmod_sdk::__private::decode_input(#name, &out)
            }
        });
    }
    let doc = format!("Bindings of the host-function group `{group}` version {version}.");
    Ok(quote! {
        #[doc = #doc]
        #vis mod #module {
            #(#items)*
        }
    })
}
