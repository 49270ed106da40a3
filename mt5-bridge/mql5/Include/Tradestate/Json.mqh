//+------------------------------------------------------------------+
//|                                          Tradestate/Json.mqh     |
//| A small JSON reader: the queue log's lines (flat objects, read   |
//| back into TsRecord by field name) and the gateway's HTTP replies |
//| (results[], errors[]). It parses a whole text into a node list   |
//| (object, array, string, number, true, false, null) linked by     |
//| first child / next sibling, so lookups do not rescan the text.   |
//| Strings are unescaped (\" \\ \/ \b \f \n \r \t \uXXXX); numbers  |
//| are kept as their literal text, so the caller decides between    |
//| integer and double and nothing is rounded on the way.            |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_JSON_MQH
#define TRADESTATE_JSON_MQH

#define TS_J_OBJECT 1
#define TS_J_ARRAY  2
#define TS_J_STRING 3
#define TS_J_NUMBER 4
#define TS_J_TRUE   5
#define TS_J_FALSE  6
#define TS_J_NULL   7

//--- Deeper nesting than this is refused: no reply or queue line of ours comes near it.
#define TS_JSON_MAX_DEPTH 32

//--- A JSON number literal without fraction or exponent.
bool TsJsonIsInteger(const string literal)
  {
   int length=StringLen(literal);
   int start=(length>0 && StringGetCharacter(literal,0)=='-') ? 1 : 0;
   if(length<=start || length-start>19)
      return(false);
   for(int i=start;i<length;i++)
     {
      ushort c=StringGetCharacter(literal,i);
      if(c<'0' || c>'9')
         return(false);
     }
   return(true);
  }

class TsJson
  {
private:
   ushort            m_s[];     // the text as UTF-16 units
   int               m_len;
   int               m_pos;
   string            m_text;
   ushort            m_buf[];   // scratch for unescaped strings
   int               m_last_child[];

   int               NewNode(const int type,const int parent,const string key)
     {
      int n=count++;
      if(n>=ArraySize(types))
        {
         int size=MathMax(16,n*2);
         ArrayResize(types,size);
         ArrayResize(parents,size);
         ArrayResize(keys,size);
         ArrayResize(texts,size);
         ArrayResize(first_child,size);
         ArrayResize(next_sibling,size);
         ArrayResize(m_last_child,size);
        }
      types[n]=type;
      parents[n]=parent;
      keys[n]=key;
      texts[n]="";
      first_child[n]=-1;
      next_sibling[n]=-1;
      m_last_child[n]=-1;
      if(parent>=0)
        {
         if(m_last_child[parent]<0)
            first_child[parent]=n;
         else
            next_sibling[m_last_child[parent]]=n;
         m_last_child[parent]=n;
        }
      return(n);
     }

   void              SkipSpace(void)
     {
      while(m_pos<m_len)
        {
         ushort c=m_s[m_pos];
         if(c!=' ' && c!='\t' && c!='\r' && c!='\n')
            break;
         m_pos++;
        }
     }

   bool              Fail(const string what)
     {
      if(error=="")
         error=what+" at character "+IntegerToString(m_pos);
      return(false);
     }

   int               HexValue(const ushort c) const
     {
      if(c>='0' && c<='9')
         return(c-'0');
      if(c>='a' && c<='f')
         return(c-'a'+10);
      if(c>='A' && c<='F')
         return(c-'A'+10);
      return(-1);
     }

   //--- At the opening quote; leaves m_pos after the closing one.
   bool              ReadString(string &out)
     {
      m_pos++;
      int start=m_pos;
      //--- Fast path: no escape, one StringSubstr.
      while(m_pos<m_len && m_s[m_pos]!='"' && m_s[m_pos]!='\\')
        {
         if(m_s[m_pos]<0x20)
            return(Fail("control character in a string"));
         m_pos++;
        }
      if(m_pos>=m_len)
         return(Fail("unterminated string"));
      if(m_s[m_pos]=='"')
        {
         //--- "" by hand: StringSubstr with length 0 may read to the end (as MQL4 documents it).
         out=(m_pos>start) ? StringSubstr(m_text,start,m_pos-start) : "";
         m_pos++;
         return(true);
        }
      int n=0;
      if(ArraySize(m_buf)<m_len)
         ArrayResize(m_buf,m_len);
      for(int i=start;i<m_pos;i++)
         m_buf[n++]=m_s[i];
      while(m_pos<m_len)
        {
         ushort c=m_s[m_pos];
         if(c=='"')
           {
            m_pos++;
            out=(n>0) ? ShortArrayToString(m_buf,0,n) : "";
            return(true);
           }
         if(c<0x20)
            return(Fail("control character in a string"));
         if(c!='\\')
           {
            m_buf[n++]=c;
            m_pos++;
            continue;
           }
         if(m_pos+1>=m_len)
            return(Fail("unterminated escape"));
         ushort e=m_s[m_pos+1];
         m_pos+=2;
         if(e=='"' || e=='\\' || e=='/')
            m_buf[n++]=e;
         else
            if(e=='b')
               m_buf[n++]=0x08;
            else
               if(e=='f')
                  m_buf[n++]=0x0C;
               else
                  if(e=='n')
                     m_buf[n++]=0x0A;
                  else
                     if(e=='r')
                        m_buf[n++]=0x0D;
                     else
                        if(e=='t')
                           m_buf[n++]=0x09;
                        else
                           if(e=='u')
                             {
                              if(m_pos+4>m_len)
                                 return(Fail("short \\u escape"));
                              int value=0;
                              for(int k=0;k<4;k++)
                                {
                                 int h=HexValue(m_s[m_pos+k]);
                                 if(h<0)
                                    return(Fail("bad \\u escape"));
                                 value=value*16+h;
                                }
                              m_pos+=4;
                              //--- MQL5 strings are UTF-16: a surrogate pair is two units, kept as they come.
                              m_buf[n++]=(ushort)value;
                             }
                           else
                              return(Fail("unknown escape"));
        }
      return(Fail("unterminated string"));
     }

   bool              ReadNumber(string &out)
     {
      int start=m_pos;
      if(m_pos<m_len && m_s[m_pos]=='-')
         m_pos++;
      int digits=m_pos;
      while(m_pos<m_len && m_s[m_pos]>='0' && m_s[m_pos]<='9')
         m_pos++;
      if(m_pos==digits)
         return(Fail("bad number"));
      if(m_s[digits]=='0' && m_pos-digits>1)
         return(Fail("leading zero"));
      if(m_pos<m_len && m_s[m_pos]=='.')
        {
         m_pos++;
         int fraction=m_pos;
         while(m_pos<m_len && m_s[m_pos]>='0' && m_s[m_pos]<='9')
            m_pos++;
         if(m_pos==fraction)
            return(Fail("bad fraction"));
        }
      if(m_pos<m_len && (m_s[m_pos]=='e' || m_s[m_pos]=='E'))
        {
         m_pos++;
         if(m_pos<m_len && (m_s[m_pos]=='+' || m_s[m_pos]=='-'))
            m_pos++;
         int exponent=m_pos;
         while(m_pos<m_len && m_s[m_pos]>='0' && m_s[m_pos]<='9')
            m_pos++;
         if(m_pos==exponent)
            return(Fail("bad exponent"));
        }
      out=StringSubstr(m_text,start,m_pos-start);
      return(true);
     }

   bool              ReadWord(const string word)
     {
      int length=StringLen(word);
      if(m_pos+length>m_len)
         return(false);
      for(int i=0;i<length;i++)
         if(m_s[m_pos+i]!=StringGetCharacter(word,i))
            return(false);
      m_pos+=length;
      return(true);
     }

   bool              ReadValue(const int parent,const string key,const int depth)
     {
      if(depth>TS_JSON_MAX_DEPTH)
         return(Fail("nested too deep"));
      SkipSpace();
      if(m_pos>=m_len)
         return(Fail("value expected"));
      ushort c=m_s[m_pos];
      if(c=='{')
        {
         int node=NewNode(TS_J_OBJECT,parent,key);
         m_pos++;
         SkipSpace();
         if(m_pos<m_len && m_s[m_pos]=='}')
           {
            m_pos++;
            return(true);
           }
         while(true)
           {
            SkipSpace();
            if(m_pos>=m_len || m_s[m_pos]!='"')
               return(Fail("member name expected"));
            string name="";
            if(!ReadString(name))
               return(false);
            SkipSpace();
            if(m_pos>=m_len || m_s[m_pos]!=':')
               return(Fail("':' expected"));
            m_pos++;
            if(!ReadValue(node,name,depth+1))
               return(false);
            SkipSpace();
            if(m_pos<m_len && m_s[m_pos]==',')
              {
               m_pos++;
               continue;
              }
            if(m_pos<m_len && m_s[m_pos]=='}')
              {
               m_pos++;
               return(true);
              }
            return(Fail("',' or '}' expected"));
           }
        }
      if(c=='[')
        {
         int node=NewNode(TS_J_ARRAY,parent,key);
         m_pos++;
         SkipSpace();
         if(m_pos<m_len && m_s[m_pos]==']')
           {
            m_pos++;
            return(true);
           }
         while(true)
           {
            if(!ReadValue(node,"",depth+1))
               return(false);
            SkipSpace();
            if(m_pos<m_len && m_s[m_pos]==',')
              {
               m_pos++;
               continue;
              }
            if(m_pos<m_len && m_s[m_pos]==']')
              {
               m_pos++;
               return(true);
              }
            return(Fail("',' or ']' expected"));
           }
        }
      if(c=='"')
        {
         string value="";
         if(!ReadString(value))
            return(false);
         int node=NewNode(TS_J_STRING,parent,key);
         texts[node]=value;
         return(true);
        }
      if(c=='-' || (c>='0' && c<='9'))
        {
         string literal="";
         if(!ReadNumber(literal))
            return(false);
         int node=NewNode(TS_J_NUMBER,parent,key);
         texts[node]=literal;
         return(true);
        }
      if(ReadWord("true"))
        {
         NewNode(TS_J_TRUE,parent,key);
         return(true);
        }
      if(ReadWord("false"))
        {
         NewNode(TS_J_FALSE,parent,key);
         return(true);
        }
      if(ReadWord("null"))
        {
         NewNode(TS_J_NULL,parent,key);
         return(true);
        }
      return(Fail("unexpected character"));
     }

public:
   int               types[];
   int               parents[];
   string            keys[];         // member name ("" for array items and the root)
   string            texts[];        // string value (unescaped) or number literal
   int               first_child[];
   int               next_sibling[];
   int               count;
   string            error;

                     TsJson(void) { count=0; error=""; m_len=0; m_pos=0; }

   //--- Parses one JSON text; node 0 is its root. False (and error) when it is not JSON.
   bool              Parse(const string text)
     {
      count=0;
      error="";
      m_text=text;
      m_len=StringLen(text);
      m_pos=0;
      if(ArraySize(m_s)<m_len+1)
         ArrayResize(m_s,m_len+1);
      if(m_len>0)
         StringToShortArray(text,m_s,0,m_len);
      if(!ReadValue(-1,"",0))
         return(false);
      SkipSpace();
      if(m_pos<m_len)
         return(Fail("trailing characters"));
      return(true);
     }

   //--- The member `name` of object `node`, or -1.
   int               Member(const int node,const string name) const
     {
      if(node<0 || node>=count || types[node]!=TS_J_OBJECT)
         return(-1);
      for(int child=first_child[node];child>=0;child=next_sibling[child])
         if(keys[child]==name)
            return(child);
      return(-1);
     }

   //--- A string member's text, or fallback when absent or not a string.
   string            Text(const int node,const string name,const string fallback="") const
     {
      int child=Member(node,name);
      return((child>=0 && types[child]==TS_J_STRING) ? texts[child] : fallback);
     }

   //--- An integer member's value, or fallback when absent or not an integer.
   long              Integer(const int node,const string name,const long fallback) const
     {
      int child=Member(node,name);
      if(child<0 || types[child]!=TS_J_NUMBER || !TsJsonIsInteger(texts[child]))
         return(fallback);
      return(StringToInteger(texts[child]));
     }

   //--- Children of an array (or members of an object), in order.
   int               Items(const int node,int &items[]) const
     {
      int n=0;
      ArrayResize(items,0);
      if(node<0 || node>=count)
         return(0);
      for(int child=first_child[node];child>=0;child=next_sibling[child])
        {
         ArrayResize(items,n+1,64);
         items[n++]=child;
        }
      return(n);
     }
  };

#endif // TRADESTATE_JSON_MQH
//+------------------------------------------------------------------+
