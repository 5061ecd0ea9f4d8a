"""Ask the assistant: grounded answers with numbered citations, proactive fixes and cross-industry ideas."""

import streamlit as st

from app_pages.common import backend
from app_pages.display import label, safe
from assistant.chain import Assistant, plain_text
from improvement.domain import DomainError, clean_text


@st.cache_resource(show_spinner="Loading the knowledge base…")
def assistant_service() -> Assistant:
    return Assistant.from_backend(backend())


st.title(":material/chat: Assistant")
assistant = assistant_service()
# A chat model placed in the session (tests use LangChain's fake chat models) replaces the configured one.
if st.session_state.get("assistant_chat_model") is not None:
    assistant = Assistant(
        backend().knowledge,
        backend().playbook,
        llm_spec=backend().settings.llm,
        chat_model=st.session_state["assistant_chat_model"],
    )
st.caption(
    f"Model: **{safe(assistant.model_name)}**. Answers come from the articles in the knowledge base, "
    "with numbered citations; suggestions come from the playbook."
)

problem = None
problem_kind = None
problem_id = st.session_state.get("ask_problem_id")
if problem_id:
    try:
        backlog = backend().backlog(with_models=False)
        problem = backlog.get_problem(int(problem_id))
        problem_kind = backlog.get_item(problem.improvement_id).item.kind
        with st.container(border=True):
            st.markdown(f"**Asking about problem #{problem.id}:** {safe(problem.description)}")
            if st.button("Stop asking about this problem", key="clear_problem"):
                st.session_state.pop("ask_problem_id", None)
                st.rerun()
    except DomainError:
        st.session_state.pop("ask_problem_id", None)

history = st.session_state.setdefault("chat_history", [])


def render_answer(answer) -> None:  # type: ignore[no-untyped-def]
    if answer.notice:
        st.warning(f"{safe(answer.notice)}: showing what retrieval and the playbook found.", icon=":material/warning:")
    if answer.dropped:
        st.caption(f"{safe(answer.dropped)} The answer above is built from the cited passages.")
    if not answer.covered and answer.problem_id is None:
        return  # an off-topic question: the articles do not answer it, so no sources and no cards
    if answer.citations:
        st.markdown("**Sources**")
        for citation in answer.citations:
            with st.expander(f"\\[{citation.number}\\] {label(citation.title)}"):
                st.caption(f"{safe(citation.source)}" + (f" · {safe(citation.author)}" if citation.author else ""))
                st.text(citation.text)
    if not answer.proactive_fixes and not answer.cross_industry_ideas:
        if answer.problem_id is not None:
            st.caption("No playbook pattern fits this problem well enough to suggest one.")
        return
    fixes, ideas = st.columns(2)
    with fixes:
        st.markdown("**Proactive fixes**")
        for fix in answer.proactive_fixes:
            with st.container(border=True):
                st.markdown(f"**{safe(fix['title'])}**  \n{safe(fix['action'])}")
                if fix.get("proactive"):
                    st.markdown(f"*Reach them first:* {safe(fix['proactive'])}")
    with ideas:
        st.markdown("**Cross-industry ideas**")
        for idea in answer.cross_industry_ideas:
            with st.container(border=True):
                st.markdown(
                    f"**From {safe(idea['industry'])}:** {safe(idea['idea'])}  \n"
                    f"*How it transfers:* {safe(idea['how_it_transfers'])}"
                )


for turn in history:
    with st.chat_message("user"):
        st.text(turn["question"])
    with st.chat_message("assistant"):
        st.markdown(safe(plain_text(turn["answer"].answer)))
        render_answer(turn["answer"])

placeholder = "Ask about this problem, or press Enter" if problem else "Ask about customer-centric leadership…"
question = st.chat_input(placeholder, key="chat_question", max_chars=4000)
EXAMPLES = [
    "How do customer-centric leaders pre-empt problems for all customers?",
    "Why should we report customer experience in money rather than scores?",
    "How do we get employees to care about customers they never meet?",
]
if not history and question is None and problem is None:
    st.markdown("**Try asking:**")
    for number, example in enumerate(EXAMPLES):
        if st.button(example, key=f"example_{number}"):
            question = example
if question is not None:
    try:
        text = clean_text(question, field="question", required=problem is None, limit=4000)
    except DomainError as error:
        st.error(safe(error))
        st.stop()
    with st.chat_message("user"):
        st.text(text or f"(about problem #{problem.id if problem else ''})")
    with st.chat_message("assistant"):
        stream = assistant.answer_stream(text, problem, problem_kind)
        streaming = st.empty()
        chunks: list[str] = []
        # Shown as plain, escaped text while it streams: a heading in a passage never renders huge.
        for chunk in stream:
            chunks.append(chunk)
            streaming.markdown(safe(plain_text("".join(chunks))))
        answer = stream.answer
        # The final text replaces the stream: uncited model prose is dropped for the cited passages.
        streaming.markdown(safe(plain_text(answer.answer)))
        render_answer(answer)
    history.append({"question": text, "answer": answer})
